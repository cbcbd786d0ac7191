"""placeholder"""
import argparse
from bench import Row, skipped
def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass
def run(args: argparse.Namespace) -> list[Row]:
    return [skipped("http", "all", "todo")]
