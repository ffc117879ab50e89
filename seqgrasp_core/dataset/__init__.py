"""SeqDataset: sequences of objects generated, validated and stored as Parquet shards,
one work unit at a time, locally or on a Ray cluster (docs/dataset.md)."""
