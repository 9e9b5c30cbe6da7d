"""Model backends of the reasoner (``transformers``, ``openai``); ``sop`` lives in ``core``."""
