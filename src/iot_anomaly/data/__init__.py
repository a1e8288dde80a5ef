"""Reading, validating, preprocessing and splitting KDD Cup 99 traffic."""
