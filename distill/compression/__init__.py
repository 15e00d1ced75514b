"""Shipping a trained network: pruned int8 .tflite files (LiteRT), and Deep Compression's .dcz
files (pruning, k-means weight sharing, Huffman coding) with their decoder."""
