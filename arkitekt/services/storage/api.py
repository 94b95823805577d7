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


class DatasetFilter(BaseModel):
    """No documentation"""

    name: str | None = None
    name_contains: str | None = Field(alias="nameContains", default=None)
    parent: str | None = None
    root: Annotated[bool | None, GraphQLDefault("False")] = Field(
        default=None, description="Only datasets without a parent."
    )
    "Only datasets without a parent.\nDefault: False"
    mine: Annotated[bool | None, GraphQLDefault("False")] = None
    "Default: False"
    model_config = ConfigDict(frozen=True)


class DatasetMembers(BaseModel):
    """No documentation"""

    images: Annotated[tuple[str, ...] | None, GraphQLDefault("[]")] = None
    "Default: []"
    files: Annotated[tuple[str, ...] | None, GraphQLDefault("[]")] = None
    "Default: []"
    tables: Annotated[tuple[str, ...] | None, GraphQLDefault("[]")] = None
    "Default: []"
    datasets: Annotated[tuple[str, ...] | None, GraphQLDefault("[]")] = None
    "Default: []"
    model_config = ConfigDict(frozen=True)


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


class RoiFilter(BaseModel):
    """No documentation"""

    image: str | None = None
    label: str | None = None
    kind: str | None = None
    model_config = ConfigDict(frozen=True)


class RoiInput(BaseModel):
    """No documentation"""

    image: str
    kind: str
    vectors: tuple[tuple[float, ...], ...]
    label: Annotated[str | None, GraphQLDefault("")] = None
    "Default: "
    mask: str | None = None
    model_config = ConfigDict(frozen=True)


class TableFilter(BaseModel):
    """No documentation"""

    name: str | None = None
    name_contains: str | None = Field(alias="nameContains", default=None)
    mine: Annotated[bool | None, GraphQLDefault("False")] = None
    "Default: False"
    image: str | None = None
    roi: str | None = None
    model_config = ConfigDict(frozen=True)


class TableUploadInput(BaseModel):
    """No documentation"""

    name: str
    size_bytes: int = Field(alias="sizeBytes")
    image: str | None = Field(default=None, description="The image it is about (one you may see).")
    roi: str | None = Field(
        default=None,
        description="The ROI it is about (one you may see; on ``image`` when both are given, else the table is linked to the ROI's image too).",
    )
    model_config = ConfigDict(frozen=True)


class Roi(BaseModel):
    """A region of interest on an image."""

    typename: Literal["Roi"] = Field(alias="__typename", default="Roi")
    id: str
    image: str
    "The image it is drawn on."
    kind: str
    "One of point, line, rectangle, polygon, ellipse, mask."
    vectors: tuple[tuple[float, ...], ...]
    "Points in the image's dims order (ellipse: center, radii; rectangle: two corners; mask: none or two corners placing the mask)."
    label: str
    mask: str | None = Field(default=None)
    "A mask ROI's labels image."
    creator: str
    "Who drew it (username)."
    created_at: datetime = Field(alias="createdAt")
    mine: bool
    "Whether you drew it."
    model_config = ConfigDict(frozen=True)

    class Meta:
        """Meta class for Roi"""

        document = "fragment Roi on Roi {\n  id\n  image\n  kind\n  vectors\n  label\n  mask\n  creator\n  createdAt\n  mine\n  __typename\n}"
        name = "Roi"
        type = "Roi"


class Dataset(BaseModel):
    """A named group of images, files, tables and datasets."""

    typename: Literal["Dataset"] = Field(alias="__typename", default="Dataset")
    id: str
    name: str
    parent: str | None = Field(default=None)
    created_at: datetime = Field(alias="createdAt")
    mine: bool
    shared_with_everyone: bool = Field(alias="sharedWithEveryone")
    model_config = ConfigDict(frozen=True)

    class Meta:
        """Meta class for Dataset"""

        document = "fragment Dataset on Dataset {\n  id\n  name\n  parent\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}"
        name = "Dataset"
        type = "Dataset"


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


class Table(BaseModel):
    """A table stored as one parquet file."""

    typename: Literal["Table"] = Field(alias="__typename", default="Table")
    id: str
    name: str
    columns: tuple[str, ...]
    "The column names, in order."
    column_types: tuple[str, ...] = Field(alias="columnTypes")
    "The columns' arrow types (e.g. 'int64', 'string'), in the same order."
    num_rows: int = Field(alias="numRows")
    num_row_groups: int = Field(alias="numRowGroups")
    size_bytes: int = Field(alias="sizeBytes")
    image_id: str | None = Field(default=None, alias="imageId")
    "The image it is about (null when you may not see that image)."
    roi_id: str | None = Field(default=None, alias="roiId")
    "The region of interest it is about (null when you may not see it)."
    created_at: datetime = Field(alias="createdAt")
    mine: bool
    shared_with_everyone: bool = Field(alias="sharedWithEveryone")
    model_config = ConfigDict(frozen=True)

    class Meta:
        """Meta class for Table"""

        document = "fragment Table on Table {\n  id\n  name\n  columns\n  columnTypes\n  numRows\n  numRowGroups\n  sizeBytes\n  imageId\n  roiId\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}"
        name = "Table"
        type = "Table"


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


class GetRoi(BaseModel):
    """No documentation found for this operation."""

    roi: Roi
    "One ROI of an image you may see."

    class Arguments(BaseModel):
        """Arguments for GetRoi"""

        id: str

    class Meta:
        """Meta class for GetRoi"""

        document = "fragment Roi on Roi {\n  id\n  image\n  kind\n  vectors\n  label\n  mask\n  creator\n  createdAt\n  mine\n  __typename\n}\n\nquery GetRoi($id: ID!) {\n  roi(id: $id) {\n    ...Roi\n    __typename\n  }\n}"


class ListRois(BaseModel):
    """No documentation found for this operation."""

    rois: tuple[Roi, ...]
    "ROIs of images you may see, newest first (pages of <= 100)."

    class Arguments(BaseModel):
        """Arguments for ListRois"""

        filter: RoiFilter | None = Field(default=None)
        pagination: Pagination | None = Field(default=None)

    class Meta:
        """Meta class for ListRois"""

        document = "fragment Roi on Roi {\n  id\n  image\n  kind\n  vectors\n  label\n  mask\n  creator\n  createdAt\n  mine\n  __typename\n}\n\nquery ListRois($filter: RoiFilter, $pagination: Pagination) {\n  rois(filter: $filter, pagination: $pagination) {\n    ...Roi\n    __typename\n  }\n}"


class CreateRoi(BaseModel):
    """No documentation found for this operation."""

    create_roi: Roi = Field(alias="createRoi")
    "Draw a ROI on an image you may see."

    class Arguments(BaseModel):
        """Arguments for CreateRoi"""

        input: RoiInput

    class Meta:
        """Meta class for CreateRoi"""

        document = "fragment Roi on Roi {\n  id\n  image\n  kind\n  vectors\n  label\n  mask\n  creator\n  createdAt\n  mine\n  __typename\n}\n\nmutation CreateRoi($input: RoiInput!) {\n  createRoi(input: $input) {\n    ...Roi\n    __typename\n  }\n}"


class DeleteRoi(BaseModel):
    """No documentation found for this operation."""

    delete_roi: str = Field(alias="deleteRoi")
    "Delete a ROI you drew, or one on an image you own."

    class Arguments(BaseModel):
        """Arguments for DeleteRoi"""

        id: str

    class Meta:
        """Meta class for DeleteRoi"""

        document = "mutation DeleteRoi($id: ID!) {\n  deleteRoi(id: $id)\n}"


class GetDataset(BaseModel):
    """No documentation found for this operation."""

    dataset: Dataset
    "One dataset you may see."

    class Arguments(BaseModel):
        """Arguments for GetDataset"""

        id: str

    class Meta:
        """Meta class for GetDataset"""

        document = "fragment Dataset on Dataset {\n  id\n  name\n  parent\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}\n\nquery GetDataset($id: ID!) {\n  dataset(id: $id) {\n    ...Dataset\n    __typename\n  }\n}"


class ListDatasets(BaseModel):
    """No documentation found for this operation."""

    datasets: tuple[Dataset, ...]
    "Datasets you may see, newest first."

    class Arguments(BaseModel):
        """Arguments for ListDatasets"""

        filter: DatasetFilter | None = Field(default=None)
        pagination: Pagination | None = Field(default=None)

    class Meta:
        """Meta class for ListDatasets"""

        document = "fragment Dataset on Dataset {\n  id\n  name\n  parent\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}\n\nquery ListDatasets($filter: DatasetFilter, $pagination: Pagination) {\n  datasets(filter: $filter, pagination: $pagination) {\n    ...Dataset\n    __typename\n  }\n}"


class DatasetImages(BaseModel):
    """No documentation found for this operation."""

    dataset_images: tuple[Image, ...] = Field(alias="datasetImages")
    "The images of a dataset that you may see, latest added first."

    class Arguments(BaseModel):
        """Arguments for DatasetImages"""

        id: str
        pagination: Pagination | None = Field(default=None)

    class Meta:
        """Meta class for DatasetImages"""

        document = "fragment Image on Image {\n  id\n  name\n  shape\n  dims\n  dtype\n  chunks\n  tags\n  sizeBytes\n  createdAt\n  mine\n  sharedWithEveryone\n  format\n  levels\n  scale\n  units\n  channels\n  __typename\n}\n\nquery DatasetImages($id: ID!, $pagination: Pagination) {\n  datasetImages(id: $id, pagination: $pagination) {\n    ...Image\n    __typename\n  }\n}"


class DatasetFiles(BaseModel):
    """No documentation found for this operation."""

    dataset_files: tuple[File, ...] = Field(alias="datasetFiles")
    "The files of a dataset that you may see, latest added first."

    class Arguments(BaseModel):
        """Arguments for DatasetFiles"""

        id: str
        pagination: Pagination | None = Field(default=None)

    class Meta:
        """Meta class for DatasetFiles"""

        document = "fragment File on File {\n  id\n  name\n  sizeBytes\n  contentType\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}\n\nquery DatasetFiles($id: ID!, $pagination: Pagination) {\n  datasetFiles(id: $id, pagination: $pagination) {\n    ...File\n    __typename\n  }\n}"


class DatasetTables(BaseModel):
    """No documentation found for this operation."""

    dataset_tables: tuple[Table, ...] = Field(alias="datasetTables")
    "The tables of a dataset that you may see, latest added first."

    class Arguments(BaseModel):
        """Arguments for DatasetTables"""

        id: str
        pagination: Pagination | None = Field(default=None)

    class Meta:
        """Meta class for DatasetTables"""

        document = "fragment Table on Table {\n  id\n  name\n  columns\n  columnTypes\n  numRows\n  numRowGroups\n  sizeBytes\n  imageId\n  roiId\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}\n\nquery DatasetTables($id: ID!, $pagination: Pagination) {\n  datasetTables(id: $id, pagination: $pagination) {\n    ...Table\n    __typename\n  }\n}"


class EnsureDataset(BaseModel):
    """No documentation found for this operation."""

    ensure_dataset: Dataset = Field(alias="ensureDataset")
    "Your dataset of this name under parent (or at the root); made if missing."

    class Arguments(BaseModel):
        """Arguments for EnsureDataset"""

        name: str
        parent: str | None = Field(default=None)

    class Meta:
        """Meta class for EnsureDataset"""

        document = "fragment Dataset on Dataset {\n  id\n  name\n  parent\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}\n\nmutation EnsureDataset($name: String!, $parent: ID) {\n  ensureDataset(name: $name, parent: $parent) {\n    ...Dataset\n    __typename\n  }\n}"


class AddToDataset(BaseModel):
    """No documentation found for this operation."""

    add_to_dataset: Dataset = Field(alias="addToDataset")
    "Add images, files and tables you may see to your dataset; move datasets into it."

    class Arguments(BaseModel):
        """Arguments for AddToDataset"""

        id: str
        members: DatasetMembers

    class Meta:
        """Meta class for AddToDataset"""

        document = "fragment Dataset on Dataset {\n  id\n  name\n  parent\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}\n\nmutation AddToDataset($id: ID!, $members: DatasetMembers!) {\n  addToDataset(id: $id, members: $members) {\n    ...Dataset\n    __typename\n  }\n}"


class RemoveFromDataset(BaseModel):
    """No documentation found for this operation."""

    remove_from_dataset: Dataset = Field(alias="removeFromDataset")
    "Take members out of your dataset (they are not deleted); a dataset taken out becomes a root dataset."

    class Arguments(BaseModel):
        """Arguments for RemoveFromDataset"""

        id: str
        members: DatasetMembers

    class Meta:
        """Meta class for RemoveFromDataset"""

        document = "fragment Dataset on Dataset {\n  id\n  name\n  parent\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}\n\nmutation RemoveFromDataset($id: ID!, $members: DatasetMembers!) {\n  removeFromDataset(id: $id, members: $members) {\n    ...Dataset\n    __typename\n  }\n}"


class DeleteDataset(BaseModel):
    """No documentation found for this operation."""

    delete_dataset: str = Field(alias="deleteDataset")
    "Delete your dataset and its children (not their members)."

    class Arguments(BaseModel):
        """Arguments for DeleteDataset"""

        id: str

    class Meta:
        """Meta class for DeleteDataset"""

        document = "mutation DeleteDataset($id: ID!) {\n  deleteDataset(id: $id)\n}"


class ShareDataset(BaseModel):
    """No documentation found for this operation."""

    share_dataset: Sharing = Field(alias="shareDataset")
    "Share your dataset, its children and the members you own (or stop)."

    class Arguments(BaseModel):
        """Arguments for ShareDataset"""

        id: str
        users: list[str] | None = Field(default=None)
        everyone: Annotated[bool | None, GraphQLDefault("False")] = Field(default=None)
        unshare: Annotated[bool | None, GraphQLDefault("False")] = Field(default=None)

    class Meta:
        """Meta class for ShareDataset"""

        document = "fragment Sharing on Sharing {\n  everyone\n  users\n  __typename\n}\n\nmutation ShareDataset($id: ID!, $users: [String!], $everyone: Boolean! = false, $unshare: Boolean! = false) {\n  shareDataset(id: $id, users: $users, everyone: $everyone, unshare: $unshare) {\n    ...Sharing\n    __typename\n  }\n}"


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


class GetTable(BaseModel):
    """No documentation found for this operation."""

    table: Table
    "One table you may see."

    class Arguments(BaseModel):
        """Arguments for GetTable"""

        id: str

    class Meta:
        """Meta class for GetTable"""

        document = "fragment Table on Table {\n  id\n  name\n  columns\n  columnTypes\n  numRows\n  numRowGroups\n  sizeBytes\n  imageId\n  roiId\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}\n\nquery GetTable($id: ID!) {\n  table(id: $id) {\n    ...Table\n    __typename\n  }\n}"


class ListTables(BaseModel):
    """No documentation found for this operation."""

    tables: tuple[Table, ...]
    "Tables you may see, newest first."

    class Arguments(BaseModel):
        """Arguments for ListTables"""

        filter: TableFilter | None = Field(default=None)
        pagination: Pagination | None = Field(default=None)

    class Meta:
        """Meta class for ListTables"""

        document = "fragment Table on Table {\n  id\n  name\n  columns\n  columnTypes\n  numRows\n  numRowGroups\n  sizeBytes\n  imageId\n  roiId\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}\n\nquery ListTables($filter: TableFilter, $pagination: Pagination) {\n  tables(filter: $filter, pagination: $pagination) {\n    ...Table\n    __typename\n  }\n}"


class TableGrant(BaseModel):
    """No documentation found for this operation."""

    table_grant: Grant = Field(alias="tableGrant")
    "A read-only grant for a table's parquet file."

    class Arguments(BaseModel):
        """Arguments for TableGrant"""

        id: str

    class Meta:
        """Meta class for TableGrant"""

        document = "fragment Grant on Grant {\n  kind\n  prefix\n  write\n  expiresAt\n  url\n  token\n  bucket\n  endpoint\n  region\n  accessKeyId\n  secretAccessKey\n  sessionToken\n  __typename\n}\n\nquery TableGrant($id: ID!) {\n  tableGrant(id: $id) {\n    ...Grant\n    __typename\n  }\n}"


class RequestTableUpload(BaseModel):
    """No documentation found for this operation."""

    request_table_upload: Upload = Field(alias="requestTableUpload")
    "Announce a table and get a grant to write its parquet file."

    class Arguments(BaseModel):
        """Arguments for RequestTableUpload"""

        input: TableUploadInput

    class Meta:
        """Meta class for RequestTableUpload"""

        document = "fragment Grant on Grant {\n  kind\n  prefix\n  write\n  expiresAt\n  url\n  token\n  bucket\n  endpoint\n  region\n  accessKeyId\n  secretAccessKey\n  sessionToken\n  __typename\n}\n\nfragment Upload on Upload {\n  id\n  grant {\n    ...Grant\n    __typename\n  }\n  __typename\n}\n\nmutation RequestTableUpload($input: TableUploadInput!) {\n  requestTableUpload(input: $input) {\n    ...Upload\n    __typename\n  }\n}"


class FinishTableUpload(BaseModel):
    """No documentation found for this operation."""

    finish_table_upload: Table = Field(alias="finishTableUpload")
    "Check the written parquet file and make the table visible."

    class Arguments(BaseModel):
        """Arguments for FinishTableUpload"""

        id: str

    class Meta:
        """Meta class for FinishTableUpload"""

        document = "fragment Table on Table {\n  id\n  name\n  columns\n  columnTypes\n  numRows\n  numRowGroups\n  sizeBytes\n  imageId\n  roiId\n  createdAt\n  mine\n  sharedWithEveryone\n  __typename\n}\n\nmutation FinishTableUpload($id: ID!) {\n  finishTableUpload(id: $id) {\n    ...Table\n    __typename\n  }\n}"


class DeleteTable(BaseModel):
    """No documentation found for this operation."""

    delete_table: str = Field(alias="deleteTable")
    "Delete one of your tables and its data."

    class Arguments(BaseModel):
        """Arguments for DeleteTable"""

        id: str

    class Meta:
        """Meta class for DeleteTable"""

        document = "mutation DeleteTable($id: ID!) {\n  deleteTable(id: $id)\n}"


class ShareTable(BaseModel):
    """No documentation found for this operation."""

    share_table: Sharing = Field(alias="shareTable")
    "Share one of your tables with users or everyone (or stop)."

    class Arguments(BaseModel):
        """Arguments for ShareTable"""

        id: str
        users: list[str] | None = Field(default=None)
        everyone: Annotated[bool | None, GraphQLDefault("False")] = Field(default=None)
        unshare: Annotated[bool | None, GraphQLDefault("False")] = Field(default=None)

    class Meta:
        """Meta class for ShareTable"""

        document = "fragment Sharing on Sharing {\n  everyone\n  users\n  __typename\n}\n\nmutation ShareTable($id: ID!, $users: [String!], $everyone: Boolean! = false, $unshare: Boolean! = false) {\n  shareTable(id: $id, users: $users, everyone: $everyone, unshare: $unshare) {\n    ...Sharing\n    __typename\n  }\n}"


async def aget_roi(id: str, client: GraphQLClient | None = None) -> Roi:
    """GetRoi

    One ROI of an image you may see.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Roi
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(GetRoi, variables, client=client)).roi


async def alist_rois(
    filter: RoiFilter | None | UnsetType = UNSET,
    pagination: Pagination | None | UnsetType = UNSET,
    client: GraphQLClient | None = None,
) -> tuple[Roi, ...]:
    """ListRois

    ROIs of images you may see, newest first (pages of <= 100).

    Args:
        filter (RoiFilter | None, optional): No description.
        pagination (Pagination | None, optional): No description.
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        list[Roi]
    """
    variables: dict[str, builtins.object] = {}
    if filter is not UNSET:
        variables["filter"] = filter
    if pagination is not UNSET:
        variables["pagination"] = pagination
    return (await aexecute(ListRois, variables, client=client)).rois


async def acreate_roi(input: RoiInput, client: GraphQLClient | None = None) -> Roi:
    """CreateRoi

    Draw a ROI on an image you may see.

    Args:
        input (RoiInput): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Roi
    """
    variables: dict[str, builtins.object] = {}
    variables["input"] = input
    return (await aexecute(CreateRoi, variables, client=client)).create_roi


async def adelete_roi(id: str, client: GraphQLClient | None = None) -> str:
    """DeleteRoi

    Delete a ROI you drew, or one on an image you own.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        str
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(DeleteRoi, variables, client=client)).delete_roi


async def aget_dataset(id: str, client: GraphQLClient | None = None) -> Dataset:
    """GetDataset

    One dataset you may see.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Dataset
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(GetDataset, variables, client=client)).dataset


async def alist_datasets(
    filter: DatasetFilter | None | UnsetType = UNSET,
    pagination: Pagination | None | UnsetType = UNSET,
    client: GraphQLClient | None = None,
) -> tuple[Dataset, ...]:
    """ListDatasets

    Datasets you may see, newest first.

    Args:
        filter (DatasetFilter | None, optional): No description.
        pagination (Pagination | None, optional): No description.
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        list[Dataset]
    """
    variables: dict[str, builtins.object] = {}
    if filter is not UNSET:
        variables["filter"] = filter
    if pagination is not UNSET:
        variables["pagination"] = pagination
    return (await aexecute(ListDatasets, variables, client=client)).datasets


async def adataset_images(
    id: str, pagination: Pagination | None | UnsetType = UNSET, client: GraphQLClient | None = None
) -> tuple[Image, ...]:
    """DatasetImages

    The images of a dataset that you may see, latest added first.

    Args:
        id (str): No description
        pagination (Pagination | None, optional): No description.
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        list[Image]
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    if pagination is not UNSET:
        variables["pagination"] = pagination
    return (await aexecute(DatasetImages, variables, client=client)).dataset_images


async def adataset_files(
    id: str, pagination: Pagination | None | UnsetType = UNSET, client: GraphQLClient | None = None
) -> tuple[File, ...]:
    """DatasetFiles

    The files of a dataset that you may see, latest added first.

    Args:
        id (str): No description
        pagination (Pagination | None, optional): No description.
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        list[File]
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    if pagination is not UNSET:
        variables["pagination"] = pagination
    return (await aexecute(DatasetFiles, variables, client=client)).dataset_files


async def adataset_tables(
    id: str, pagination: Pagination | None | UnsetType = UNSET, client: GraphQLClient | None = None
) -> tuple[Table, ...]:
    """DatasetTables

    The tables of a dataset that you may see, latest added first.

    Args:
        id (str): No description
        pagination (Pagination | None, optional): No description.
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        list[Table]
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    if pagination is not UNSET:
        variables["pagination"] = pagination
    return (await aexecute(DatasetTables, variables, client=client)).dataset_tables


async def aensure_dataset(
    name: str, parent: str | None | UnsetType = UNSET, client: GraphQLClient | None = None
) -> Dataset:
    """EnsureDataset

    Your dataset of this name under parent (or at the root); made if missing.

    Args:
        name (str): No description
        parent (str | None, optional): No description.
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Dataset
    """
    variables: dict[str, builtins.object] = {}
    variables["name"] = name
    if parent is not UNSET:
        variables["parent"] = parent
    return (await aexecute(EnsureDataset, variables, client=client)).ensure_dataset


async def aadd_to_dataset(
    id: str, members: DatasetMembers, client: GraphQLClient | None = None
) -> Dataset:
    """AddToDataset

    Add images, files and tables you may see to your dataset; move datasets into it.

    Args:
        id (str): No description
        members (DatasetMembers): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Dataset
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    variables["members"] = members
    return (await aexecute(AddToDataset, variables, client=client)).add_to_dataset


async def aremove_from_dataset(
    id: str, members: DatasetMembers, client: GraphQLClient | None = None
) -> Dataset:
    """RemoveFromDataset

    Take members out of your dataset (they are not deleted); a dataset taken out becomes a root dataset.

    Args:
        id (str): No description
        members (DatasetMembers): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Dataset
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    variables["members"] = members
    return (await aexecute(RemoveFromDataset, variables, client=client)).remove_from_dataset


async def adelete_dataset(id: str, client: GraphQLClient | None = None) -> str:
    """DeleteDataset

    Delete your dataset and its children (not their members).

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        str
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(DeleteDataset, variables, client=client)).delete_dataset


async def ashare_dataset(
    id: str,
    users: list[str] | None | UnsetType = UNSET,
    everyone: bool | UnsetType = UNSET,
    unshare: bool | UnsetType = UNSET,
    client: GraphQLClient | None = None,
) -> Sharing:
    """ShareDataset

    Share your dataset, its children and the members you own (or stop).

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
    return (await aexecute(ShareDataset, variables, client=client)).share_dataset


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


async def aget_table(id: str, client: GraphQLClient | None = None) -> Table:
    """GetTable

    One table you may see.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Table
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(GetTable, variables, client=client)).table


async def alist_tables(
    filter: TableFilter | None | UnsetType = UNSET,
    pagination: Pagination | None | UnsetType = UNSET,
    client: GraphQLClient | None = None,
) -> tuple[Table, ...]:
    """ListTables

    Tables you may see, newest first.

    Args:
        filter (TableFilter | None, optional): No description.
        pagination (Pagination | None, optional): No description.
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        list[Table]
    """
    variables: dict[str, builtins.object] = {}
    if filter is not UNSET:
        variables["filter"] = filter
    if pagination is not UNSET:
        variables["pagination"] = pagination
    return (await aexecute(ListTables, variables, client=client)).tables


async def atable_grant(id: str, client: GraphQLClient | None = None) -> Grant:
    """TableGrant

    A read-only grant for a table's parquet file.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Grant
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(TableGrant, variables, client=client)).table_grant


async def arequest_table_upload(
    input: TableUploadInput, client: GraphQLClient | None = None
) -> Upload:
    """RequestTableUpload

    Announce a table and get a grant to write its parquet file.

    Args:
        input (TableUploadInput): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Upload
    """
    variables: dict[str, builtins.object] = {}
    variables["input"] = input
    return (await aexecute(RequestTableUpload, variables, client=client)).request_table_upload


async def afinish_table_upload(id: str, client: GraphQLClient | None = None) -> Table:
    """FinishTableUpload

    Check the written parquet file and make the table visible.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        Table
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(FinishTableUpload, variables, client=client)).finish_table_upload


async def adelete_table(id: str, client: GraphQLClient | None = None) -> str:
    """DeleteTable

    Delete one of your tables and its data.

    Args:
        id (str): No description
        client (arkitekt.services.graphql_client.GraphQLClient, optional): The client to run the operation with (default: the current app's).

    Returns:
        str
    """
    variables: dict[str, builtins.object] = {}
    variables["id"] = id
    return (await aexecute(DeleteTable, variables, client=client)).delete_table


async def ashare_table(
    id: str,
    users: list[str] | None | UnsetType = UNSET,
    everyone: bool | UnsetType = UNSET,
    unshare: bool | UnsetType = UNSET,
    client: GraphQLClient | None = None,
) -> Sharing:
    """ShareTable

    Share one of your tables with users or everyone (or stop).

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
    return (await aexecute(ShareTable, variables, client=client)).share_table


ImageUploadInput.model_rebuild()
