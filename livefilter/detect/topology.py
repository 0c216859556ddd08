"""FaceMesh's 468-landmark topology: every landmark index set livefilter uses, defined once.

"Left" and "right" are image sides (image-left is the subject's right side in a non-mirrored image);
pairs are (image-left, image-right). The face stage (five alignment points), the masks, the makeup
regions, the placement and the measures all read their polygons here.
"""

from __future__ import annotations

NUM_LANDMARKS = 468

# -- outlines -----------------------------------------------------------------------------------------
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)  # outer lip line
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)  # the mouth opening
LEFT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)  # the eye opening
RIGHT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
LEFT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
RIGHT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
BROWS = (LEFT_BROW, RIGHT_BROW)

# -- lines, per side ----------------------------------------------------------------------------------
# Upper lids from the outer corner to the inner one, the lower lids the same way, and the lower edge of
# each brow, outer to inner.
UPPER_LID = ((33, 246, 161, 160, 159, 158, 157, 173, 133), (263, 466, 388, 387, 386, 385, 384, 398, 362))
LOWER_LID = ((33, 7, 163, 144, 145, 153, 154, 155, 133), (263, 249, 390, 373, 374, 380, 381, 382, 362))
BROW_LOWER = ((46, 53, 52, 65, 55), (276, 283, 282, 295, 285))
# Cheek apples (blush): the mid-cheek points below the outer eye.
CHEEK_APPLE = ((50, 101, 118, 117, 123, 187, 205), (280, 330, 347, 346, 352, 411, 425))
# Contour: the hollow under the cheekbone, from the ear side towards the mouth corner.
CONTOUR_LINE = ((234, 93, 132, 215, 192), (454, 323, 361, 435, 416))
# Highlight: nose bridge, cheekbone tops.
NOSE_BRIDGE = (168, 6, 197, 195, 5, 4)
CHEEKBONE_TOP = ((116, 111, 117, 118), (345, 340, 346, 347))

# -- the five alignment keypoints -----------------------------------------------------------------------
LEFT_EYE_KEYS = (33, 133, 159, 145)  # outer corner, inner corner, upper lid, lower lid (image-left eye)
RIGHT_EYE_KEYS = (263, 362, 386, 374)  # the same for the image-right eye
NOSE_TIP = 1
MOUTH_LEFT, MOUTH_RIGHT = 61, 291
