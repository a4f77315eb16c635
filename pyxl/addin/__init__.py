"""The PyXL Excel add-in: build ``pyxl.xlam`` without Excel, install it on Windows.

* :mod:`pyxl.addin.wrappers`: VBA generated from the formulas (``addin/*.bas``);
* :mod:`pyxl.addin.build`: assemble and read back ``pyxl.xlam``;
* :mod:`pyxl.addin.vbaproject`, :mod:`pyxl.addin.cfb`, :mod:`pyxl.addin.ovba`:
  the VBA project container formats ([MS-OVBA], [MS-CFB]);
* :mod:`pyxl.addin.install`: copy into Excel's XLSTART (Windows, needs Excel).
"""
