"""Writers of a finished dataset: parquet (schema v1), webdataset tars, dataset card, HTML preview."""
