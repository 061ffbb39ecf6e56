"""annkit: learn, reproduce and extend Asymmetric Non-local Neural Networks (ANN).

Zhu, Xu, Bai, Huang, Bai. "Asymmetric Non-local Neural Networks for Semantic Segmentation", ICCV 2019,
https://arxiv.org/abs/1908.07678. Subpackages (ARCHITECTURE.md: what each is and the arrows between them): ``nn``
(the paper's blocks), ``models``, ``data``, ``engine``, ``viz``, ``export``; ``bench`` measures; ``cli`` is the
``annkit`` command.
"""

__version__ = "0.1.0"
