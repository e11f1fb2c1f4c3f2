"""swiftkit: reliable, repeatable identity fine-tuning with ms-swift on one GPU."""

__version__ = "0.1.0"
