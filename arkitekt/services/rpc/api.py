import builtins
from arkitekt.services.graphql_client import GraphQLClient, aexecute
from datetime import datetime
from enum import Enum
from pydantic import BaseModel, ConfigDict, Field
from typing import Annotated, Literal


class GraphQLDefault:
    """Records a GraphQL field schema default value. The client omits the field so the server applies its own default; this preserves the value for introspection."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return "GraphQLDefault(" + repr(self.value) + ")"


class UnsetType:
    """Sentinel for arguments the caller did not provide. Such fields are omitted on serialization so the GraphQL server applies its own default."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "UNSET"

    def __bool__(self):
        return False


UNSET = UnsetType()


class ListAgentsAgents(BaseModel):
    """No documentation"""

    typename: Literal["Agent"] = Field(alias="__typename", default="Agent")
    id: str
    app: str
    instance_id: str = Field(alias="instanceId")
    connected: bool
    last_seen_at: datetime = Field(alias="lastSeenAt")
    model_config = ConfigDict(frozen=True)


class ListAgents(BaseModel):
    """No documentation found for this operation."""

    agents: tuple[ListAgentsAgents, ...]

    class Arguments(BaseModel):
        """Arguments for ListAgents"""

        pass

    class Meta:
        """Meta class for ListAgents"""

        document = "query ListAgents {\n  agents {\n    id\n    app\n    instanceId\n    connected\n    lastSeenAt\n    __typename\n  }\n}"


class ListAssignationsAssignations(BaseModel):
    """No documentation"""

    typename: Literal["Assignation"] = Field(alias="__typename", default="Assignation")
    id: str
    node_id: str = Field(alias="nodeId")
    node_name: str = Field(alias="nodeName")
    status: str
    parent_id: str | None = Field(default=None, alias="parentId")
    created_at: datetime = Field(alias="createdAt")
    finished_at: datetime | None = Field(default=None, alias="finishedAt")
    model_config = ConfigDict(frozen=True)


class ListAssignations(BaseModel):
    """No documentation found for this operation."""

    assignations: tuple[ListAssignationsAssignations, ...]

    class Arguments(BaseModel):
        """Arguments for ListAssignations"""

        status: str | None = Field(default=None)
        limit: Annotated[int | None, GraphQLDefault("50")] = Field(default=None)
        offset: Annotated[int | None, GraphQLDefault("0")] = Field(default=None)

    class Meta:
        """Meta class for ListAssignations"""

        document = "query ListAssignations($status: String, $limit: Int! = 50, $offset: Int! = 0) {\n  assignations(status: $status, limit: $limit, offset: $offset) {\n    id\n    nodeId\n    nodeName\n    status\n    parentId\n    createdAt\n    finishedAt\n    __typename\n  }\n}"


async def alist_agents(client: GraphQLClient | None = None) -> tuple[ListAgentsAgents, ...]:
    """ListAgents


    Args:
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        list[ListAgentsAgents]
    """
    variables: dict[str, builtins.object] = {}
    return (await aexecute(ListAgents, variables, client=client)).agents


async def alist_assignations(
    status: str | None | UnsetType = UNSET,
    limit: int | UnsetType = UNSET,
    offset: int | UnsetType = UNSET,
    client: GraphQLClient | None = None,
) -> tuple[ListAssignationsAssignations, ...]:
    """ListAssignations


    Args:
        status (str | None, optional): No description.
        limit (int, optional): No description. Defaults to 50
        offset (int, optional): No description. Defaults to 0
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        list[ListAssignationsAssignations]
    """
    variables: dict[str, builtins.object] = {}
    if status is not UNSET:
        variables["status"] = status
    if limit is not UNSET:
        variables["limit"] = limit
    if offset is not UNSET:
        variables["offset"] = offset
    return (await aexecute(ListAssignations, variables, client=client)).assignations
