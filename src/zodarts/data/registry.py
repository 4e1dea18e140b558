"""What datasets zodarts knows by name, and where their files live on disk.

The MedMNIST entries mirror the official ``medmnist`` package's ``INFO`` (v3, Zenodo record
10519652), so a file downloaded by either tool is recognised by both. ``digits`` is the
scikit-learn bundled set: no file, no download, always available.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from zodarts.errors import DataError

TASKS = ("multi-class", "multi-label", "binary", "ordinal")
SPLITS = ("train", "val", "test")
MEDMNIST_SIZES = (28, 64, 128, 224)
_ZENODO = "https://zenodo.org/records/10519652/files/{file}?download=1"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    task: str
    channels: int
    classes: int  # multi-label: the number of labels
    splits: dict[str, int]
    md5: str | None  # of the 28×28 file (``image_size`` for non-MedMNIST entries)
    url: str | None
    label_names: tuple[str, ...]
    image_size: int = 28
    description: str = ""
    # md5 of the larger official files (NAME_64.npz, ...): `fetch --size 64` is verified too.
    md5_by_size: dict[int, str] = field(default_factory=dict)
    license: str = "CC BY 4.0"

    @property
    def is_medmnist(self) -> bool:
        return self.url is not None

    def sizes(self) -> tuple[int, ...]:
        return (self.image_size, *sorted(self.md5_by_size))

    def filename(self, size: int = 28) -> str:
        return f"{self.name}.npz" if size == self.image_size else f"{self.name}_{size}.npz"

    def md5_for(self, size: int = 28) -> str | None:
        return self.md5 if size == self.image_size else self.md5_by_size.get(size)

    def url_for(self, size: int = 28) -> str | None:
        if self.url is None:
            return None
        return _ZENODO.format(file=self.filename(size))


def _medmnist(name: str, task: str, channels: int, labels: tuple[str, ...],
              splits: tuple[int, int, int], md5: str, md5_64: str, md5_128: str, md5_224: str,
              description: str, license: str = "CC BY 4.0") -> DatasetInfo:
    return DatasetInfo(
        name=name, task=task, channels=channels, classes=len(labels),
        splits=dict(zip(SPLITS, splits)), md5=md5,
        url=_ZENODO.format(file=f"{name}.npz"), label_names=labels, image_size=28,
        description=description, md5_by_size={64: md5_64, 128: md5_128, 224: md5_224},
        license=license)


_ORGANS = ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right",
           "liver", "lung-left", "lung-right", "pancreas", "spleen")

REGISTRY: dict[str, DatasetInfo] = {info.name: info for info in (
    _medmnist("pathmnist", "multi-class", 3,
              ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
               "normal colon mucosa", "cancer-associated stroma",
               "colorectal adenocarcinoma epithelium"),
              (89996, 10004, 7180), "a8b06965200029087d5bd730944a56c1",
              "55aa9c1e0525abe5a6b9d8343a507616", "ac42d08fb904d92c244187169d1fd1d9",
              "2c51a510bcdc9cf8ddb2af93af1eadec",
              "Colon pathology (NCT-CRC-HE-100K): 9 tissue types."),
    _medmnist("chestmnist", "multi-label", 1,
              ("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule",
               "pneumonia", "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis",
               "pleural", "hernia"),
              (78468, 11219, 22433), "02c8a6516a18b556561a56cbdd36c4a8",
              "9de6cd0b934ebb5b7426cfba5efbae16", "db107e5590b27930b62dbaf558aebee3",
              "45bd33e6f06c3e8cdb481c74a89152aa",
              "Chest X-ray (NIH ChestX-ray14): 14 disease labels, multi-label."),
    _medmnist("dermamnist", "multi-class", 3,
              ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
               "benign keratosis-like lesions", "dermatofibroma", "melanoma",
               "melanocytic nevi", "vascular lesions"),
              (7007, 1003, 2005), "0744692d530f8e62ec473284d019b0c7",
              "b70a2f5635c6199aeaa28c31d7202e1f", "2defd784463fa5243564e855ed717de1",
              "8974907d8e169bef5f5b96bc506ae45d",
              "Dermatoscope (HAM10000): 7 skin lesion types.", license="CC BY-NC 4.0"),
    _medmnist("octmnist", "multi-class", 1,
              ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
              (97477, 10832, 1000), "c68d92d5b585d8d81f7112f81e2d0842",
              "e229e9440236b774d9f0dfef9d07bdaf", "0a97e76651ace45c5d943ee3f65b63ae",
              "abc493b6d529d5de7569faaef2773ba3",
              "Retinal OCT: 4 diagnosis categories."),
    _medmnist("pneumoniamnist", "binary", 1, ("normal", "pneumonia"),
              (4708, 524, 624), "28209eda62fecd6e6a2d98b1501bb15f",
              "8f4eceb4ccffa70c672198ea285246c6", "05b46931834c231683c68f40c47b2971",
              "d6a3c71de1b945ea11211b03746c1fe1",
              "Paediatric chest X-ray: pneumonia against normal."),
    _medmnist("retinamnist", "ordinal", 3, ("0", "1", "2", "3", "4"),
              (1080, 120, 400), "bd4c0672f1bba3e3a89f0e4e876791e4",
              "afda852cc34dcda56f86ad2b2457dbcc", "e48e916a24454daf90583d4e6efb1a18",
              "eae7e3b6f3fcbda4ae613ebdcbe35348",
              "Fundus camera (DeepDRiD): 5-level diabetic retinopathy grading."),
    _medmnist("breastmnist", "binary", 1, ("malignant", "normal, benign"),
              (546, 78, 156), "750601b1f35ba3300ea97c75c52ff8f6",
              "742edef2a1fd1524b2efff4bd7ba9364", "363e4b3f8d712e9b5de15470a2aaadf1",
              "b56378a6eefa9fed602bb16d192d4c8b",
              "Breast ultrasound: malignant against normal or benign."),
    _medmnist("bloodmnist", "multi-class", 3,
              ("basophil", "eosinophil", "erythroblast",
               "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)",
               "lymphocyte", "monocyte", "neutrophil", "platelet"),
              (11959, 1712, 3421), "7053d0359d879ad8a5505303e11de1dc",
              "2b94928a2ae4916078ca51e05b6b800b", "adace1e0ed228fccda1f39692059dd4c",
              "b718ff6835fcbdb22ba9eacccd7b2601",
              "Blood cell microscope: 8 cell types."),
    _medmnist("tissuemnist", "multi-class", 1,
              ("Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
               "Glomerular endothelial cells", "Interstitial endothelial cells", "Leukocytes",
               "Podocytes", "Proximal Tubule Segments", "Thick Ascending Limb"),
              (165466, 23640, 47280), "ebe78ee8b05294063de985d821c1c34b",
              "123ece2eba09d0aa5d698fda57103344", "61b955355d7425a89687b06cca3ce0c2",
              "b077128c4a949f0a4eb01517f9037b9c",
              "Kidney cortex microscope (BBBC051): 8 cell types."),
    _medmnist("organamnist", "multi-class", 1, _ORGANS,
              (34561, 6491, 17778), "68e3f8846a6bd62f0c9bf841c0d9eacc",
              "2dcccc29b88e6da5a01161ef20cda288", "eeae80d0a227a8d099027e1b3cfd3b60",
              "50747347e05c87dd3aaf92c49f9f3170",
              "Abdominal CT, axial view (LiTS): 11 organs."),
    _medmnist("organcmnist", "multi-class", 1, _ORGANS,
              (12975, 2392, 8216), "b9ceb9546e10131b32923c5bbeaea2b1",
              "3ce34a8724ea6f548e6db4744d03b6a9", "773c1f009daa3fe5d9a2a201b2a7ed94",
              "050f5e875dc056f6768abf94ec9995d1",
              "Abdominal CT, coronal view (LiTS): 11 organs."),
    _medmnist("organsmnist", "multi-class", 1, _ORGANS,
              (13932, 2452, 8827), "9ab87b696fb54e2a387ebe992d6ed5f1",
              "53a6d115339d874c25e309a994ff46d3", "ded0c5fa01a95dc4978b956f613e9b8e",
              "b354719e553fbbb2513d5533f52a4cb1",
              "Abdominal CT, sagittal view (LiTS): 11 organs."),
    DatasetInfo(
        name="digits", task="multi-class", channels=1, classes=10,
        # What zodarts.data.dataset's stratified 70/10/20 split (seed 0) gives the 1797 images;
        # tests check the two agree.
        splits={"train": 1258, "val": 180, "test": 359}, md5=None, url=None,
        label_names=tuple(str(d) for d in range(10)), image_size=8,
        description="Handwritten digits bundled with scikit-learn (no download): 1797 grey 8×8.",
        license="BSD-3-Clause (scikit-learn)"),
)}


def _control_infos() -> list[DatasetInfo]:
    from zodarts.data.controls import CONTROLS, SIZE, SPLIT_SIZES

    return [DatasetInfo(name=c.name, task="binary" if len(c.label_names) == 2 else
                        "multi-class", channels=1, classes=len(c.label_names),
                        splits=dict(SPLIT_SIZES), md5=None, url=None,
                        label_names=c.label_names, image_size=SIZE,
                        description=f"Control (generated): {c.tests}", license="MIT (zodarts)")
            for c in CONTROLS.values()]


REGISTRY.update({info.name: info for info in _control_infos()})


def get_info(name: str) -> DatasetInfo:
    """The registry entry for ``name`` (case-insensitive)."""
    try:
        return REGISTRY[name.lower()]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(REGISTRY)} "
                        "(or give a path to an .npz file or an image folder)") from None


def default_root() -> Path:
    """Where `zodarts fetch` writes: ``$MEDMNIST_ROOT``, else the medmnist package's own cache."""
    env = os.environ.get("MEDMNIST_ROOT")
    return Path(env).expanduser() if env else Path.home() / ".medmnist"


def search_dirs(data_root: str | os.PathLike | None = None) -> list[tuple[Path, str]]:
    """Folders to look in, in order, each with where it came from (for error messages)."""
    dirs: list[tuple[Path, str]] = []
    if data_root is not None:
        dirs.append((Path(data_root).expanduser(), "--data-root"))
    env = os.environ.get("MEDMNIST_ROOT")
    if env:
        dirs.append((Path(env).expanduser(), "$MEDMNIST_ROOT"))
    dirs.append((Path.home() / ".medmnist", "medmnist cache"))
    return dirs


def find_local(name: str, data_root: str | os.PathLike | None = None,
               size: int = 28) -> Path | None:
    """The first existing ``NAME.npz`` (``NAME_SIZE.npz``) along :func:`search_dirs`."""
    filename = get_info(name).filename(size)
    for folder, _ in search_dirs(data_root):
        if (folder / filename).is_file():
            return folder / filename
    return None
