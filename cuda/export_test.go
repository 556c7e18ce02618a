package cuda

// Exported for the external (cuda_test) GPU tests.
var (
	RefUniformF32 = refUniformF32
	RefNormalF32  = refNormalF32
	RefF16        = refF16
	RefBF16       = refBF16
	RefF16ToF32   = refF16ToF32
)
