"""POST /transactions, GET /transactions/{id} and POST /transactions/{id}/label behind API Gateway (REST proxy)."""
