"""``probe.models``: pretrained architectures with their reference parameter names.

``BertModel`` / ``SentenceEncoder`` load Hugging Face BERT folders (e.g. all-MiniLM-L6-v2);
``resnet18/34/50`` follow torchvision's names, so its state_dicts load as they are.

>>> from probe.models import BertConfig, BertModel, SentenceEncoder, resnet18
"""

from .bert import BertConfig, BertModel, BertModelOutput, SentenceEncoder
from .hub import LoadReport
from .resnet import resnet18, resnet34, resnet50

__all__ = ["BertConfig", "BertModel", "BertModelOutput", "SentenceEncoder", "LoadReport",
           "resnet18", "resnet34", "resnet50"]
