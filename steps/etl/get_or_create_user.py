"""Step: the author whose writing is crawled (created in the warehouse when new)."""

from typing import Annotated

from loguru import logger
from zenml import log_metadata, step

from llm_engineering.domain.documents import UserDocument


@step(enable_cache=False)
def get_or_create_user(user_full_name: str) -> Annotated[UserDocument, "user"]:
    user = UserDocument.get_or_create_by_name(user_full_name)
    logger.info("author: {} ({})", user.full_name, user.id)
    log_metadata(
        metadata={"user": {"full_name": user.full_name, "id": str(user.id)}}, artifact_name="user", infer_artifact=True
    )
    return user
