"""FLOOR-HTTP: FastAPI reads the body and answers a constant decision."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

# The size and shape of fraud-api's answer, so both send the same bytes back.
DECISION = (
    b'{"transactionId":"b-floorfloorfloorfl","score":0.0123,"decision":"approve",'
    b'"reasons":["model score below review threshold"],"modelVersion":"floor"}'
)

app = FastAPI(openapi_url=None)


@app.get("/api/ready")
async def ready() -> Response:
    """Answers once the server is up (the benchmark waits for it)."""
    return Response(b'{"status":"ok"}', media_type="application/json")


@app.post("/api/v1/score")
async def score(request: Request) -> Response:
    """Reads the body and answers a constant decision."""
    await request.body()
    return Response(DECISION, media_type="application/json")
