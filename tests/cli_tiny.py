"""The argument list of a tiny `ydnn train --synthetic` run (a few seconds),
shared by the CLI tests: a synthetic log of 200 users and 6,000
interactions, a 16-wide model, 20 negatives, quiet."""


def tiny_train_args(items=300, epochs=2):
    """`ydnn train` options for the tiny run over `items` items."""
    return [
        "--synthetic",
        "--synthetic-users",
        "200",
        "--synthetic-items",
        str(items),
        "--synthetic-interactions",
        "6000",
        "--epochs",
        str(epochs),
        "--embedding-dim",
        "16",
        "--top-block",
        "32,16",
        "--num-sampled",
        "20",
        "--verbose",
        "0",
    ]
