"""POST /transactions and GET /transactions/{id} behind API Gateway (REST proxy)."""
