"""PDF documents of a case in Kazakh or Russian: the application (annex 2), the receipt and
the reasoned refusal.

Typst (the layout, bot/documents/typesetting.py) and fontTools (Roboto's metrics) are
imported when the first document is rendered, not at start-up: they cost about 30 MB of
memory and 0.1 s, and most processes of a replica set serve hours of updates between two
documents.
"""

from bot.documents.application import ApplicationData, render_application
from bot.documents.receipt import ReceiptData, render_receipt
from bot.documents.refusal import RefusalData, render_refusal

__all__ = [
    "ApplicationData",
    "ReceiptData",
    "RefusalData",
    "render_application",
    "render_receipt",
    "render_refusal",
]
