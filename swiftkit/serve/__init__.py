"""serve: swift deploy behind an OpenAI-compatible API, and evaluating a served model"""
