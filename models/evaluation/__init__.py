"""Clean-room evaluation generators written from DESIGN.md §10 alone, independent of the training generators."""
