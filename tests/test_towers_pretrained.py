"""The packaged towers really are pretrained: EfficientNet recognises Flickr8k photos."""
import numpy as np
import torch
from PIL import Image

import pytest

from vsearch.models.efficientnet import VARIANTS, build_efficientnet_lite
from vsearch.models.preprocess import Preprocess

# Flickr8k photos whose captions name a dog; ImageNet classes 151-268 are dog breeds.
DOG_PHOTOS = ["1001773457_577c3a7d70.jpg", "1019077836_6fc9b15408.jpg", "1042590306_95dea0916c.jpg"]


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_efficientnet_lite_recognises_dogs(flickr, variant):
    net = build_efficientnet_lite(variant).eval()
    pp = Preprocess(size=VARIANTS[variant][3], resize_mode="squash")
    x = pp.normalize(np.stack([pp.to_pixels(Image.open(flickr / "images" / n)) for n in DOG_PHOTOS]))
    with torch.no_grad():
        top5 = net(x).topk(5, dim=-1).indices
    hits = [bool(((top5[i] >= 151) & (top5[i] <= 268)).any()) for i in range(len(DOG_PHOTOS))]
    assert sum(hits) >= 2, top5


def test_random_efficientnet_does_not():
    torch.manual_seed(0)
    net = build_efficientnet_lite("lite0", pretrained=False).eval()
    with torch.no_grad():
        p = net(torch.zeros(1, 3, 224, 224)).softmax(-1)
    assert p.max() < 0.05  # an untrained classifier is near uniform: the check above is meaningful
