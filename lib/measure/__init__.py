"""Measurements on one model: explanation maps, the manipulation attack, map metrics, prototype
pairs, input landscapes, curvature and SEP's regulariser."""
