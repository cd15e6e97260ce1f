"""PDF documents of a case in Kazakh or Russian: the application (annex 2) and the receipt.

fpdf and its font tools are imported when the first document is rendered, not at
start-up: they cost about 30 MB of memory and 0.35 s, and most processes of a replica
set serve hours of updates between two documents.
"""

from bot.documents.application import ApplicationData, render_application
from bot.documents.receipt import ReceiptData, render_receipt

__all__ = ["ApplicationData", "ReceiptData", "render_application", "render_receipt"]
