"""Understanding what a customer wants: the intent model, entity and PII extraction, language.

`model.IntentModel` predicts one of the 24 intents with a confidence; `extract` pulls the
facts routing and templates need, and owns the one masking function for customer text.
"""
