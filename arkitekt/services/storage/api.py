import builtins
from arkitekt.services.graphql_client import GraphQLClient, aexecute
from datetime import datetime
from enum import Enum
from pydantic import BaseModel, ConfigDict, Field
from typing import Annotated, Any, Literal


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


class FileFilter(BaseModel):
    """No documentation"""

    name: str | None = None
    name_contains: str | None = Field(alias="nameContains", default=None)
    mine: Annotated[bool | None, GraphQLDefault("False")] = None
    "Default: False"
    model_config = ConfigDict(frozen=True)


class FileUploadInput(BaseModel):
    """No documentation"""

    name: str
    size_bytes: int = Field(alias="sizeBytes")
    content_type: Annotated[str | None, GraphQLDefault("application/octet-stream")] = Field(
        alias="contentType", default=None
    )
    "Default: application/octet-stream"
    model_config = ConfigDict(frozen=True)


class ImageFilter(BaseModel):
    """No documentation"""

    name: str | None = None
    name_contains: str | None = Field(alias="nameContains", default=None)
    tags: Annotated[tuple[str, ...] | None, GraphQLDefault("[]")] = None
    "Default: []"
    mine: Annotated[bool | None, GraphQLDefault("False")] = None
    "Default: False"
    created_after: datetime | None = Field(alias="createdAfter", default=None)
    created_before: datetime | None = Field(alias="createdBefore", default=None)
    model_config = ConfigDict(frozen=True)


class ImageUploadInput(BaseModel):
    """No documentation"""

    name: str
    shape: tuple[int, ...]
    dims: tuple[str, ...]
    dtype: str
    chunks: tuple[int, ...]
    tags: Annotated[tuple[str, ...] | None, GraphQLDefault("[]")] = None
    "Default: []"
    format: Annotated[str | None, GraphQLDefault("zarr-array")] = Field(
        default=None,
        description="'ome-zarr-0.5' or 'zarr-group' (a group, level 0 at '0'), or 'zarr-array' (a plain array at the prefix, as older clients write).",
    )
    "'ome-zarr-0.5' or 'zarr-group' (a group, level 0 at '0'), or 'zarr-array' (a plain array at the prefix, as older clients write).\nDefault: zarr-array"
    levels: tuple["LevelInput", ...] | None = Field(
        default=None,
        description="Every level, level 0 (the image) first; default: level 0 only. Group formats only.",
    )
    model_config = ConfigDict(frozen=True)


class LevelInput(BaseModel):
    """One level an upload will write (the image's dim order)."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    model_config = ConfigDict(frozen=True)


class Pagination(BaseModel):
    """No documentation"""

    limit: Annotated[int | None, GraphQLDefault("100")] = None
    "Default: 100"
    offset: Annotated[int | None, GraphQLDefault("0")] = None
    "Default: 0"
    model_config = ConfigDict(frozen=True)


class Grant(BaseModel):
    """Access to one key prefix of the datalayer, for a while."""

    typename: Literal["Grant"] = Field(alias="__typename", default="Grant")
    kind: str
    "'http' (the local datalayer) or 's3'."
    prefix: str
    write: bool
    expires_at: datetime = Field(alias="expiresAt")
    url: str | None = Field(default=None)
    token: str | None = Field(default=None)
    bucket: str | None = Field(default=None)
    endpoint: str | None = Field(default=None)
    region: str | None = Field(default=None)
    access_key_id: str | None = Field(default=None, alias="accessKeyId")
    secret_access_key: str | None = Field(default=None, alias="secretAccessKey")
    session_token: str | None = Field(default=None, alias="sessionToken")
    model_config = ConfigDict(frozen=True)

    class Meta:
        """Meta class for Grant"""

        document = "fragment Grant on Grant {\n  kind\n  prefix\n  write\n  expiresAt\n  url\n  token\n  bucket\n  endpoint\n  region\n  accessKeyId\n  secretAccessKey\n  sessionToken\n  __typename\n}"
        name = "Grant"
        type = "Grant"


class Image(BaseModel):
    """An n-dimensional image stored as OME-Zarr (NGFF 0.5 on zarr v3), or as a plain zarr v3 array for images stored before (format 'zarr-array')."""

    typename: Literal["Image"] = Field(alias="__typename", default="Image")
    id: str
    name: str
    shape: tuple[int, ...]
    dims: tuple[str, ...]
    dtype: str
    chunks: tuple[int, ...]
    tags: tuple[str, ...]
    size_bytes: int | None = Field(default=None, alias="sizeBytes")
    created_at: datetime = Field(alias="createdAt")
    mine: bool
    shared_with_everyone: bool = Field(alias="sharedWithEveryone")
    format: str
    "'ome-zarr-0.5', 'zarr-group' or 'zarr-array'."
    levels: Any
    "The verified levels, level 0 (the image) first: [{path, shape, chunks, scale}] (dims in the image's order); [] for 'zarr-array' images."
    scale: Any
    "Pixel size per time/space dim: {dim: size}."
    units: Any
    "Unit per time/space dim: {dim: 'micrometer'}."
    channels: Any
    "The channel axis's channels: [{name, color '#RRGGBB', excitation_wavelength, emission_wavelength}] (nm)."
    model_config = ConfigDict(frozen=True)

    class Meta:
        """Meta class for Image"""

        document = "fragment Image on Image {\n  id\n  name\n  shape\n  dims\n  dtype\n  chunks\n  tags\n  sizeBytes\n  createdAt\n  mine\n  sharedWithEveryone\n  format\n  levels\n  scale\n  units\n  channels\n  __typename\n}"
        name = "Image"
        type = "Image"


class File(BaseModel):
    """A file, stored as one object."""

    typename: Literal["File"] = Field(alias="__typename", default="File")
    id: str
    name: str
    size_bytes: int = Field(alias="sizeBytes")
    content_type: str = Field(alias="contentType")
    created_at: datetime = Field(alias="createdAt")
    mine: bool
    shared_with_everyone: bool = Field(alias="sharedWithEveryone")
    model_config = ConfigDict(frozen=True)

    class Meta:
        """Meta class for File"""

        document = "fragment File on File {\n  id\n  name\n  sizeBytes\n  contentType\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}"
        name = "File"
        type = "File"


class Sharing(BaseModel):
    """No documentation"""

    typename: Literal["Sharing"] = Field(alias="__typename", default="Sharing")
    everyone: bool
    users: tuple[str, ...]
    model_config = ConfigDict(frozen=True)

    class Meta:
        """Meta class for Sharing"""

        document = "fragment Sharing on Sharing {\n  everyone\n  users\n  __typename\n}"
        name = "Sharing"
        type = "Sharing"


class Upload(BaseModel):
    """No documentation"""

    typename: Literal["Upload"] = Field(alias="__typename", default="Upload")
    id: str
    grant: Grant
    model_config = ConfigDict(frozen=True)

    class Meta:
        """Meta class for Upload"""

        document = "fragment Grant on Grant {\n  kind\n  prefix\n  write\n  expiresAt\n  url\n  token\n  bucket\n  endpoint\n  region\n  accessKeyId\n  secretAccessKey\n  sessionToken\n  __typename\n}\n\nfragment Upload on Upload {\n  id\n  grant {\n    ...Grant\n    __typename\n  }\n  __typename\n}"
        name = "Upload"
        type = "Upload"


class GetImage(BaseModel):
    """No documentation found for this operation."""

    image: Image
    "One image you may see."

    class Arguments(BaseModel):
        """Arguments for GetImage"""

        id: str

    class Meta:
        """Meta class for GetImage"""

        document = "fragment Image on Image {\n  id\n  name\n  shape\n  dims\n  dtype\n  chunks\n  tags\n  sizeBytes\n  createdAt\n  mine\n  sharedWithEveryone\n  format\n  levels\n  scale\n  units\n  channels\n  __typename\n}\n\nquery GetImage($id: ID!) {\n  image(id: $id) {\n    ...Image\n    __typename\n  }\n}"


class ListImages(BaseModel):
    """No documentation found for this operation."""

    images: tuple[Image, ...]
    "Images you may see, newest first."

    class Arguments(BaseModel):
        """Arguments for ListImages"""

        filter: ImageFilter | None = Field(default=None)
        pagination: Pagination | None = Field(default=None)

    class Meta:
        """Meta class for ListImages"""

        document = "fragment Image on Image {\n  id\n  name\n  shape\n  dims\n  dtype\n  chunks\n  tags\n  sizeBytes\n  createdAt\n  mine\n  sharedWithEveryone\n  format\n  levels\n  scale\n  units\n  channels\n  __typename\n}\n\nquery ListImages($filter: ImageFilter, $pagination: Pagination) {\n  images(filter: $filter, pagination: $pagination) {\n    ...Image\n    __typename\n  }\n}"


class GetFile(BaseModel):
    """No documentation found for this operation."""

    file: File
    "One file you may see."

    class Arguments(BaseModel):
        """Arguments for GetFile"""

        id: str

    class Meta:
        """Meta class for GetFile"""

        document = "fragment File on File {\n  id\n  name\n  sizeBytes\n  contentType\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}\n\nquery GetFile($id: ID!) {\n  file(id: $id) {\n    ...File\n    __typename\n  }\n}"


class ListFiles(BaseModel):
    """No documentation found for this operation."""

    files: tuple[File, ...]
    "Files you may see, newest first."

    class Arguments(BaseModel):
        """Arguments for ListFiles"""

        filter: FileFilter | None = Field(default=None)
        pagination: Pagination | None = Field(default=None)

    class Meta:
        """Meta class for ListFiles"""

        document = "fragment File on File {\n  id\n  name\n  sizeBytes\n  contentType\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}\n\nquery ListFiles($filter: FileFilter, $pagination: Pagination) {\n  files(filter: $filter, pagination: $pagination) {\n    ...File\n    __typename\n  }\n}"


class ImageGrant(BaseModel):
    """No documentation found for this operation."""

    image_grant: Grant = Field(alias="imageGrant")
    "A read-only grant for an image's zarr array."

    class Arguments(BaseModel):
        """Arguments for ImageGrant"""

        id: str

    class Meta:
        """Meta class for ImageGrant"""

        document = "fragment Grant on Grant {\n  kind\n  prefix\n  write\n  expiresAt\n  url\n  token\n  bucket\n  endpoint\n  region\n  accessKeyId\n  secretAccessKey\n  sessionToken\n  __typename\n}\n\nquery ImageGrant($id: ID!) {\n  imageGrant(id: $id) {\n    ...Grant\n    __typename\n  }\n}"


class FileGrant(BaseModel):
    """No documentation found for this operation."""

    file_grant: Grant = Field(alias="fileGrant")
    "A read-only grant for a file's content."

    class Arguments(BaseModel):
        """Arguments for FileGrant"""

        id: str

    class Meta:
        """Meta class for FileGrant"""

        document = "fragment Grant on Grant {\n  kind\n  prefix\n  write\n  expiresAt\n  url\n  token\n  bucket\n  endpoint\n  region\n  accessKeyId\n  secretAccessKey\n  sessionToken\n  __typename\n}\n\nquery FileGrant($id: ID!) {\n  fileGrant(id: $id) {\n    ...Grant\n    __typename\n  }\n}"


class RequestImageUpload(BaseModel):
    """No documentation found for this operation."""

    request_image_upload: Upload = Field(alias="requestImageUpload")
    "Announce an image and get a grant to write its array."

    class Arguments(BaseModel):
        """Arguments for RequestImageUpload"""

        input: ImageUploadInput

    class Meta:
        """Meta class for RequestImageUpload"""

        document = "fragment Grant on Grant {\n  kind\n  prefix\n  write\n  expiresAt\n  url\n  token\n  bucket\n  endpoint\n  region\n  accessKeyId\n  secretAccessKey\n  sessionToken\n  __typename\n}\n\nfragment Upload on Upload {\n  id\n  grant {\n    ...Grant\n    __typename\n  }\n  __typename\n}\n\nmutation RequestImageUpload($input: ImageUploadInput!) {\n  requestImageUpload(input: $input) {\n    ...Upload\n    __typename\n  }\n}"


class RequestFileUpload(BaseModel):
    """No documentation found for this operation."""

    request_file_upload: Upload = Field(alias="requestFileUpload")
    "Announce a file and get a grant to write its content."

    class Arguments(BaseModel):
        """Arguments for RequestFileUpload"""

        input: FileUploadInput

    class Meta:
        """Meta class for RequestFileUpload"""

        document = "fragment Grant on Grant {\n  kind\n  prefix\n  write\n  expiresAt\n  url\n  token\n  bucket\n  endpoint\n  region\n  accessKeyId\n  secretAccessKey\n  sessionToken\n  __typename\n}\n\nfragment Upload on Upload {\n  id\n  grant {\n    ...Grant\n    __typename\n  }\n  __typename\n}\n\nmutation RequestFileUpload($input: FileUploadInput!) {\n  requestFileUpload(input: $input) {\n    ...Upload\n    __typename\n  }\n}"


class RenewUploadGrant(BaseModel):
    """No documentation found for this operation."""

    renew_upload_grant: Grant = Field(alias="renewUploadGrant")
    "A fresh write grant for an upload in progress."

    class Arguments(BaseModel):
        """Arguments for RenewUploadGrant"""

        id: str

    class Meta:
        """Meta class for RenewUploadGrant"""

        document = "fragment Grant on Grant {\n  kind\n  prefix\n  write\n  expiresAt\n  url\n  token\n  bucket\n  endpoint\n  region\n  accessKeyId\n  secretAccessKey\n  sessionToken\n  __typename\n}\n\nmutation RenewUploadGrant($id: ID!) {\n  renewUploadGrant(id: $id) {\n    ...Grant\n    __typename\n  }\n}"


class FinishImageUpload(BaseModel):
    """No documentation found for this operation."""

    finish_image_upload: Image = Field(alias="finishImageUpload")
    "Check the written array and make the image visible."

    class Arguments(BaseModel):
        """Arguments for FinishImageUpload"""

        id: str

    class Meta:
        """Meta class for FinishImageUpload"""

        document = "fragment Image on Image {\n  id\n  name\n  shape\n  dims\n  dtype\n  chunks\n  tags\n  sizeBytes\n  createdAt\n  mine\n  sharedWithEveryone\n  format\n  levels\n  scale\n  units\n  channels\n  __typename\n}\n\nmutation FinishImageUpload($id: ID!) {\n  finishImageUpload(id: $id) {\n    ...Image\n    __typename\n  }\n}"


class FinishFileUpload(BaseModel):
    """No documentation found for this operation."""

    finish_file_upload: File = Field(alias="finishFileUpload")
    "Check the written content and make the file visible."

    class Arguments(BaseModel):
        """Arguments for FinishFileUpload"""

        id: str

    class Meta:
        """Meta class for FinishFileUpload"""

        document = "fragment File on File {\n  id\n  name\n  sizeBytes\n  contentType\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}\n\nmutation FinishFileUpload($id: ID!) {\n  finishFileUpload(id: $id) {\n    ...File\n    __typename\n  }\n}"


class AbortUpload(BaseModel):
    """No documentation found for this operation."""

    abort_upload: bool = Field(alias="abortUpload")
    "Give up an upload: its record and objects are removed."

    class Arguments(BaseModel):
        """Arguments for AbortUpload"""

        id: str

    class Meta:
        """Meta class for AbortUpload"""

        document = "mutation AbortUpload($id: ID!) {\n  abortUpload(id: $id)\n}"


class DeleteImage(BaseModel):
    """No documentation found for this operation."""

    delete_image: str = Field(alias="deleteImage")
    "Delete one of your images and its data."

    class Arguments(BaseModel):
        """Arguments for DeleteImage"""

        id: str

    class Meta:
        """Meta class for DeleteImage"""

        document = "mutation DeleteImage($id: ID!) {\n  deleteImage(id: $id)\n}"


class DeleteFile(BaseModel):
    """No documentation found for this operation."""

    delete_file: str = Field(alias="deleteFile")
    "Delete one of your files and its content."

    class Arguments(BaseModel):
        """Arguments for DeleteFile"""

        id: str

    class Meta:
        """Meta class for DeleteFile"""

        document = "mutation DeleteFile($id: ID!) {\n  deleteFile(id: $id)\n}"


class ShareImage(BaseModel):
    """No documentation found for this operation."""

    share_image: Sharing = Field(alias="shareImage")
    "Share one of your images with users or everyone (or stop)."

    class Arguments(BaseModel):
        """Arguments for ShareImage"""

        id: str
        users: list[str] | None = Field(default=None)
        everyone: Annotated[bool | None, GraphQLDefault("False")] = Field(default=None)
        unshare: Annotated[bool | None, GraphQLDefault("False")] = Field(default=None)

    class Meta:
        """Meta class for ShareImage"""

        document = "fragment Sharing on Sharing {\n  everyone\n  users\n  __typename\n}\n\nmutation ShareImage($id: ID!, $users: [String!], $everyone: Boolean! = false, $unshare: Boolean! = false) {\n  shareImage(id: $id, users: $users, everyone: $everyone, unshare: $unshare) {\n    ...Sharing\n    __typename\n  }\n}"


class ShareFile(BaseModel):
    """No documentation found for this operation."""

    share_file: Sharing = Field(alias="shareFile")
    "Share one of your files with users or everyone (or stop)."

    class Arguments(BaseModel):
        """Arguments for ShareFile"""

        id: str
        users: list[str] | None = Field(default=None)
        everyone: Annotated[bool | None, GraphQLDefault("False")] = Field(default=None)
        unshare: Annotated[bool | None, GraphQLDefault("False")] = Field(default=None)

    class Meta:
        """Meta class for ShareFile"""

        document = "fragment Sharing on Sharing {\n  everyone\n  users\n  __typename\n}\n\nmutation ShareFile($id: ID!, $users: [String!], $everyone: Boolean! = false, $unshare: Boolean! = false) {\n  shareFile(id: $id, users: $users, everyone: $everyone, unshare: $unshare) {\n    ...Sharing\n    __typename\n  }\n}"


async def aget_image(id: str, client: GraphQLClient | None = None) -> Image:
    """GetImage

    One image you may see.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Image
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(GetImage, variables, client=client)).image


async def alist_images(
    filter: ImageFilter | None | UnsetType = UNSET,
    pagination: Pagination | None | UnsetType = UNSET,
    client: GraphQLClient | None = None,
) -> tuple[Image, ...]:
    """ListImages

    Images you may see, newest first.

    Args:
        filter (ImageFilter | None, optional): No description.
        pagination (Pagination | None, optional): No description.
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        list[Image]
    """
    variables: dict[str, builtins.object] = {}
    if filter is not UNSET:
        variables["filter"] = filter
    if pagination is not UNSET:
        variables["pagination"] = pagination
    return (await aexecute(ListImages, variables, client=client)).images


async def aget_file(id: str, client: GraphQLClient | None = None) -> File:
    """GetFile

    One file you may see.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        File
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(GetFile, variables, client=client)).file


async def alist_files(
    filter: FileFilter | None | UnsetType = UNSET,
    pagination: Pagination | None | UnsetType = UNSET,
    client: GraphQLClient | None = None,
) -> tuple[File, ...]:
    """ListFiles

    Files you may see, newest first.

    Args:
        filter (FileFilter | None, optional): No description.
        pagination (Pagination | None, optional): No description.
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        list[File]
    """
    variables: dict[str, builtins.object] = {}
    if filter is not UNSET:
        variables["filter"] = filter
    if pagination is not UNSET:
        variables["pagination"] = pagination
    return (await aexecute(ListFiles, variables, client=client)).files


async def aimage_grant(id: str, client: GraphQLClient | None = None) -> Grant:
    """ImageGrant

    A read-only grant for an image's zarr array.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Grant
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(ImageGrant, variables, client=client)).image_grant


async def afile_grant(id: str, client: GraphQLClient | None = None) -> Grant:
    """FileGrant

    A read-only grant for a file's content.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Grant
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(FileGrant, variables, client=client)).file_grant


async def arequest_image_upload(
    input: ImageUploadInput, client: GraphQLClient | None = None
) -> Upload:
    """RequestImageUpload

    Announce an image and get a grant to write its array.

    Args:
        input (ImageUploadInput): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Upload
    """
    variables: dict[str, builtins.object] = {}
    variables["input"] = input
    return (await aexecute(RequestImageUpload, variables, client=client)).request_image_upload


async def arequest_file_upload(
    input: FileUploadInput, client: GraphQLClient | None = None
) -> Upload:
    """RequestFileUpload

    Announce a file and get a grant to write its content.

    Args:
        input (FileUploadInput): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Upload
    """
    variables: dict[str, builtins.object] = {}
    variables["input"] = input
    return (await aexecute(RequestFileUpload, variables, client=client)).request_file_upload


async def arenew_upload_grant(id: str, client: GraphQLClient | None = None) -> Grant:
    """RenewUploadGrant

    A fresh write grant for an upload in progress.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Grant
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(RenewUploadGrant, variables, client=client)).renew_upload_grant


async def afinish_image_upload(id: str, client: GraphQLClient | None = None) -> Image:
    """FinishImageUpload

    Check the written array and make the image visible.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Image
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(FinishImageUpload, variables, client=client)).finish_image_upload


async def afinish_file_upload(id: str, client: GraphQLClient | None = None) -> File:
    """FinishFileUpload

    Check the written content and make the file visible.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        File
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(FinishFileUpload, variables, client=client)).finish_file_upload


async def aabort_upload(id: str, client: GraphQLClient | None = None) -> bool:
    """AbortUpload

    Give up an upload: its record and objects are removed.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        bool
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(AbortUpload, variables, client=client)).abort_upload


async def adelete_image(id: str, client: GraphQLClient | None = None) -> str:
    """DeleteImage

    Delete one of your images and its data.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        str
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(DeleteImage, variables, client=client)).delete_image


async def adelete_file(id: str, client: GraphQLClient | None = None) -> str:
    """DeleteFile

    Delete one of your files and its content.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        str
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(DeleteFile, variables, client=client)).delete_file


async def ashare_image(
    id: str,
    users: list[str] | None | UnsetType = UNSET,
    everyone: bool | UnsetType = UNSET,
    unshare: bool | UnsetType = UNSET,
    client: GraphQLClient | None = None,
) -> Sharing:
    """ShareImage

    Share one of your images with users or everyone (or stop).

    Args:
        id (str): No description
        users (list[str] | None, optional): No description.
        everyone (bool, optional): No description. Defaults to False
        unshare (bool, optional): No description. Defaults to False
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Sharing
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    if users is not UNSET:
        variables["users"] = users
    if everyone is not UNSET:
        variables["everyone"] = everyone
    if unshare is not UNSET:
        variables["unshare"] = unshare
    return (await aexecute(ShareImage, variables, client=client)).share_image


async def ashare_file(
    id: str,
    users: list[str] | None | UnsetType = UNSET,
    everyone: bool | UnsetType = UNSET,
    unshare: bool | UnsetType = UNSET,
    client: GraphQLClient | None = None,
) -> Sharing:
    """ShareFile

    Share one of your files with users or everyone (or stop).

    Args:
        id (str): No description
        users (list[str] | None, optional): No description.
        everyone (bool, optional): No description. Defaults to False
        unshare (bool, optional): No description. Defaults to False
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Sharing
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    if users is not UNSET:
        variables["users"] = users
    if everyone is not UNSET:
        variables["everyone"] = everyone
    if unshare is not UNSET:
        variables["unshare"] = unshare
    return (await aexecute(ShareFile, variables, client=client)).share_file


ImageUploadInput.model_rebuild()
