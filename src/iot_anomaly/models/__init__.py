"""The detectors: Lightning networks (autoencoder, GAN, CNN+LSTM), KNN, Random Forest, and
the paper's three-layer ensemble."""
