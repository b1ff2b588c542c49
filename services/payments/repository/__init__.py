"""All SQL of payments, one module per table family, each returning typed rows.

Imported one way: `from services.payments.repository import intents as intents_repo`.
"""
