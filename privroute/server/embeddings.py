"""``POST /v1/embeddings``: a RAG pipeline's embeddings, under the tenant's policy (``Router.embed``).

The policy's ``embeddings.action`` decides for every input of the tenant: redact
then embed at the frontier (input the policy keeps local is refused with 403),
embed locally through llama.cpp, or refuse. ``model`` is ``privroute`` or the
policy's ``embeddings.model``. Inputs are texts (a string or a list of strings):
token-id arrays cannot be checked for personal data and are refused.
``encoding_format: base64`` (the official client's default) is little-endian float32.
"""

from __future__ import annotations

import base64
import struct
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .protocol import PROXY_MODEL, ApiError, RequestOutcome, _invalid, decision_headers, explain

__all__ = ["EmbeddingsRequest", "parse_embeddings_request", "serve_embeddings"]


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=256)
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


def parse_embeddings_request(raw: bytes) -> EmbeddingsRequest:
    try:
        request = EmbeddingsRequest.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        error = _invalid(exc)
        if error.param == "input":
            raise ApiError(400, "input: must be a string or a list of strings (token arrays cannot be checked "
                           "for personal data)", param="input") from None
        raise error from None
    if request.dimensions is not None:
        raise ApiError(400, "'dimensions' is not supported by the privroute proxy", param="dimensions",
                       code="unsupported_parameter")
    return request


def _encode(vector: tuple[float, ...], encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return list(vector)


async def serve_embeddings(proxy: Any, request: Any) -> Any:
    from starlette.responses import JSONResponse

    started = time.perf_counter()
    proxy.metrics.request_started()
    outcome = RequestOutcome("embeddings")
    try:
        body = await proxy.read_body(request)
        tenant = proxy.authenticate(request)
        outcome.tenant = tenant.config.name
        outcome.release = proxy.fairness.admit(tenant.config, len(body), proxy.metrics)
        parsed = parse_embeddings_request(body)
        proxy.check_model(tenant, parsed.model, (PROXY_MODEL, tenant.router.policy.embeddings.model))
        result = await proxy.run_for(tenant, tenant.router.embed, parsed.texts())
        outcome.action, outcome.reasons, outcome.status = result.decision.action, result.decision.reasons, 200
        tokens = result.usage.prompt_tokens if result.usage is not None else 0
        if tokens:
            proxy.metrics.tokens(tenant=outcome.tenant, action=outcome.action, prompt=tokens, completion=0)
        data = [{"object": "embedding", "index": index, "embedding": _encode(vector, parsed.encoding_format)}
                for index, vector in enumerate(result.vectors)]
        answer = {"object": "list", "data": data, "model": result.model,
                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                  "privroute": explain(result.decision, result.backend)}
        return JSONResponse(answer, headers=decision_headers(result.decision))
    except Exception as exc:
        return proxy.error_response(exc, outcome)
    finally:
        proxy.finish(outcome, started)
