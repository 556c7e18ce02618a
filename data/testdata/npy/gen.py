# Generates the .npy golden files with NumPy (run: python3 gen.py; NumPy 1.24.2 made the committed ones).
import numpy as np
from numpy.lib import format as fmt

np.save("f4_2x3.npy", np.arange(6, dtype="<f4").reshape(2, 3) / 4)
np.save("f8_fortran_2x3x4.npy", np.asfortranarray(np.arange(24, dtype="<f8").reshape(2, 3, 4)))
np.save("i8_5.npy", np.array([-2, -1, 0, 1, 2**40], dtype="<i8"))
np.save("i4_scalar.npy", np.array(7, dtype="<i4"))
np.save("u1_2x2.npy", np.array([[0, 1], [254, 255]], dtype="|u1"))
np.save("b1_3.npy", np.array([True, False, True]))
np.save("f2_4.npy", np.array([1.0, -2.0, 65504.0, 0.5], dtype="<f2"))
np.save("f4_0x5.npy", np.zeros((0, 5), dtype="<f4"))
np.save("f4_big_endian.npy", np.arange(3, dtype=">f4"))
np.save("object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
for v in [(2, 0), (3, 0)]:
    with open("f4_2x3_v%d.npy" % v[0], "wb") as f:
        fmt.write_array(f, np.arange(6, dtype="<f4").reshape(2, 3) / 4, version=v)
