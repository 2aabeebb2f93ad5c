"""Landmarks of the structures the template does not delineate, in MNI152 mm.

Read off the ICBM 2009a template and Colin27 (midline x = 0, right hemisphere x > 0; the left
side is mirrored), they are approximate to a few millimetres: see ``docs/simulation.md``.
"""

from __future__ import annotations

#: Confluence of sinuses (torcula Herophili).
TORCULA = (0.0, -97.0, -14.0)
#: Transverse then sigmoid sinus, torcula -> jugular bulb (right side).
TRANSVERSE_SINUS = (
    (6.0, -99.0, -14.0),
    (18.0, -99.0, -15.0),
    (30.0, -95.0, -17.0),
    (42.0, -87.0, -19.0),
    (51.0, -76.0, -21.0),
    (56.0, -65.0, -24.0),
)
SIGMOID_SINUS = (
    (56.0, -65.0, -24.0),
    (57.0, -56.0, -29.0),
    (53.0, -48.0, -36.0),
    (47.0, -41.0, -42.0),
    (42.0, -36.0, -49.0),
)
#: Vein of Galen -> straight sinus -> torcula (midline).
STRAIGHT_SINUS = (
    (0.0, -49.0, 11.0),
    (0.0, -60.0, 4.0),
    (0.0, -72.0, -4.0),
    (0.0, -84.0, -11.0),
    TORCULA,
)
#: Internal cerebral vein (right), foramen of Monro -> vein of Galen.
INTERNAL_CEREBRAL_VEIN = (
    (3.0, -4.0, 15.0),
    (3.0, -18.0, 16.0),
    (2.5, -32.0, 14.0),
    (1.0, -44.0, 11.0),
    (0.0, -49.0, 11.0),
)
#: Centre of the fan along which the superior sagittal sinus follows the brain's midline
#: outline, and the angles (degrees, in the y-z plane, 0 = anterior, 90 = superior) it spans.
SSS_CENTRE = (-20.0, 12.0)
SSS_ANGLES = (-12.0, 196.0)

#: Arteries (right side), with radii (mm) at the first and last point.
ARTERIES: dict[str, tuple[tuple[tuple[float, float, float], ...], float, float]] = {
    "internal_carotid": (
        (
            (19.0, -6.0, -46.0),
            (18.0, -1.0, -39.0),
            (16.0, 3.0, -33.0),
            (14.0, 2.0, -27.0),
            (14.0, 5.0, -21.0),
            (15.0, 5.0, -16.0),
        ),
        2.2,
        1.9,
    ),
    "middle_cerebral": (
        (
            (15.0, 5.0, -16.0),
            (25.0, 5.0, -14.0),
            (35.0, 5.0, -10.0),
            (40.0, 3.0, -4.0),
            (42.0, -6.0, 4.0),
            (43.0, -16.0, 9.0),
        ),
        1.6,
        1.0,
    ),
    "anterior_cerebral": (
        (
            (15.0, 5.0, -16.0),
            (8.0, 12.0, -11.0),
            (3.0, 17.0, -8.0),
            (2.5, 25.0, 2.0),
            (2.5, 31.0, 12.0),
            (2.5, 30.0, 24.0),
            (2.5, 20.0, 32.0),
            (2.5, 2.0, 36.0),
        ),
        1.3,
        0.9,
    ),
    "vertebral": (((9.0, -33.0, -62.0), (6.0, -27.0, -55.0), (1.5, -19.0, -49.0)), 1.6, 1.5),
    "posterior_cerebral": (
        (
            (0.0, -11.0, -19.0),
            (8.0, -15.0, -17.0),
            (17.0, -24.0, -13.0),
            (23.0, -38.0, -7.0),
            (24.0, -58.0, 0.0),
        ),
        1.2,
        0.9,
    ),
}
#: Basilar artery (midline), vertebral confluence -> tip.
BASILAR = ((0.0, -19.0, -49.0), (0.0, -13.0, -40.0), (0.0, -10.0, -30.0), (0.0, -11.0, -19.0))
#: Choroid plexus (right): foramen of Monro -> body -> glomus (atrium) -> temporal horn.
CHOROID_PATH = (
    (4.0, -2.0, 12.0),
    (10.0, -15.0, 17.0),
    (18.0, -28.0, 17.0),
    (24.0, -40.0, 13.0),
    (30.0, -35.0, 2.0),
    (32.0, -24.0, -9.0),
    (31.0, -14.0, -16.0),
)
GLOMUS = (24.0, -40.0, 13.0)
#: Pituitary gland (centre, semi-axes) and stalk.
PITUITARY = ((0.0, 4.0, -31.0), (6.5, 5.0, 3.5))
PITUITARY_STALK = ((0.0, 2.0, -27.0), (0.0, 0.0, -16.0))
#: Cavernous sinus (right: centre, semi-axes).
CAVERNOUS_SINUS = ((13.0, 1.0, -31.0), (4.0, 9.0, 5.0))
#: Straight-sinus line in the midline plane, z = a + b * y, which the tentorium follows.
TENTORIUM_LINE = (12.0 + 0.66 * 50.0, 0.66)
