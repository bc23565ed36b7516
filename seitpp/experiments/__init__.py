"""The experiments behind the book's findings: the reproduction sweep and chapter 8's sweep."""

from seitpp.experiments import reproduce
from seitpp.experiments import beyond

__all__ = ["reproduce", "beyond"]
