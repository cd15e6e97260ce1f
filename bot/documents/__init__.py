"""PDF documents of a case in Kazakh or Russian: the application (annex 2) and the receipt."""

from bot.documents.application import ApplicationData, render_application
from bot.documents.receipt import ReceiptData, render_receipt

__all__ = ["ApplicationData", "ReceiptData", "render_application", "render_receipt"]
