"""Real traffic in: packet captures, Zeek conn.log files and IoT-23's labelled logs, read
into one connections frame (`connections.py`) and turned into KDD-style records. Knows
nothing of models."""
