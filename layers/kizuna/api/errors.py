"""Domain errors → Pinpoint's error responses, in one place.

botocore reads the error type from the `x-amzn-ErrorType` header and the message from the body's `Message`, so
the stock client raises the modelled exception (`client.exceptions.NotFoundException`, ...).
"""

from __future__ import annotations

import json

from aws_lambda_powertools.event_handler import Response

from kizuna.errors import BadRequest, Conflict, Forbidden, KizunaError, NotFound, PayloadTooLarge, TooManyRequests

ERROR_TYPES: dict[type[KizunaError], tuple[int, str]] = {
    BadRequest: (400, "BadRequestException"),
    Forbidden: (403, "ForbiddenException"),
    NotFound: (404, "NotFoundException"),
    Conflict: (409, "ConflictException"),
    PayloadTooLarge: (413, "PayloadTooLargeException"),
    TooManyRequests: (429, "TooManyRequestsException"),
}


def error_response(status: int, error_type: str, message: str, request_id: str) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps({"Message": message, "RequestID": request_id}, ensure_ascii=False),
        headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": request_id},
    )


def domain_error_response(exc: KizunaError, request_id: str) -> Response:
    status, error_type = next(
        (v for cls, v in ERROR_TYPES.items() if isinstance(exc, cls)), (500, "InternalServerErrorException")
    )
    return error_response(status, error_type, exc.message, request_id)
