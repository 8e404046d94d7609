// CheckpointLoader — a Hugging Face DeepSeek-V3 checkpoint directory into ModelWeights, checked against the
// TensorManifest first: every manifest tensor present with the manifest's shape; linear weights of an FP8 config
// stored as F8_E4M3 with an F32 `<name>_scale_inv` of shape [ceil(out/bo), ceil(in/bi)]; other tensors F32, F16
// or BF16; no tensor the manifest does not know. Every failure is a CheckpointException naming tensor and file.
//
// Conversions: to F32 exactly (BF16/F16 widen, FP8 · scale_inv per block); to BF16 by copy or round-to-nearest-
// even; to FP8 by copy when the checkpoint is FP8 with 128x128 blocks, else by 128x128 block quantization.
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Checkpoints;

public static unsafe class CheckpointLoader
{
    public const string ScaleSuffix = "_scale_inv";

    /// <summary>Loads config.json and the weights of <paramref name="directory"/>; <paramref name="dtype"/> null keeps
    /// the checkpoint's own precision (FP8 stays FP8, anything else becomes BF16 if stored so, else F32).</summary>
    public static (ModelConfig Config, ModelWeights Weights) Load(string directory, WeightDType? dtype = null)
    {
        ModelConfig config = ModelConfig.Load(directory);
        using var ckpt = SafetensorsCheckpoint.Open(directory);
        Validate(config, ckpt);
        WeightDType target = dtype ?? NativeDType(config, ckpt);
        var (bo, bi) = BlockSize(config);
        var weights = ModelWeights.Allocate(config, target);
        try
        {
            foreach (TensorSpec spec in weights.Manifest) LoadTensor(ckpt, weights, spec, bo, bi);
            return (config, weights);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>FP8 when the config is quantized, BF16 when the linears are stored BF16, else F32.</summary>
    public static WeightDType NativeDType(ModelConfig config, SafetensorsCheckpoint ckpt)
    {
        if (config.IsFp8) return WeightDType.Fp8;
        var probe = TensorManifest.Build(config).First(s => s.Component == TensorComponent.Attention);
        return ckpt.Info(probe.Name).DType == SafetensorsDType.F32 ? WeightDType.F32 : WeightDType.Bf16;
    }

    private static (int Out, int In) BlockSize(ModelConfig c) =>
        c.QuantizationConfig?.WeightBlockSize is { Length: 2 } b ? (b[0], b[1]) : (LinearWeight.Block, LinearWeight.Block);

    /// <summary>Checks names, dtypes and shapes of the whole checkpoint against the manifest of <paramref name="config"/>.</summary>
    public static void Validate(ModelConfig config, SafetensorsCheckpoint ckpt)
    {
        var (bo, bi) = BlockSize(config);
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (TensorSpec spec in TensorManifest.Build(config))
        {
            expected.Add(spec.Name);
            if (!ckpt.Contains(spec.Name))
                throw new CheckpointException(
                    $"{ckpt.Directory}: missing tensor '{spec.Name}' ({SafetensorsFormat.ShapeString(spec.Shape)}) required by config.json; the checkpoint does not match its config.");
            var info = ckpt.Info(spec.Name);
            string where = $"{ckpt.FileOf(spec.Name)}: tensor '{spec.Name}'";
            if (!info.Shape.SequenceEqual(spec.Shape))
                throw new CheckpointException(
                    $"{where} has shape {SafetensorsFormat.ShapeString(info.Shape)}, but config.json implies {SafetensorsFormat.ShapeString(spec.Shape)}.");
            if (spec.Fp8)
            {
                if (info.DType != SafetensorsDType.F8_E4M3)
                    throw new CheckpointException($"{where} is {info.DType}, but quantization_config (fp8) requires F8_E4M3 linear weights.");
                string scale = spec.Name + ScaleSuffix;
                expected.Add(scale);
                if (!ckpt.Contains(scale))
                    throw new CheckpointException($"{ckpt.Directory}: missing tensor '{scale}' (the FP8 scales of '{spec.Name}').");
                var si = ckpt.Info(scale);
                long[] want = spec.ScaleInvShape(bo, bi);
                if (si.DType != SafetensorsDType.F32)
                    throw new CheckpointException($"{ckpt.FileOf(scale)}: tensor '{scale}' is {si.DType}; weight_scale_inv must be F32.");
                if (!si.Shape.SequenceEqual(want))
                    throw new CheckpointException(
                        $"{ckpt.FileOf(scale)}: tensor '{scale}' has shape {SafetensorsFormat.ShapeString(si.Shape)}, but {bo}x{bi} blocks of {SafetensorsFormat.ShapeString(spec.Shape)} need {SafetensorsFormat.ShapeString(want)}.");
            }
            else if (info.DType == SafetensorsDType.F8_E4M3)
            {
                throw new CheckpointException(
                    $"{where} is F8_E4M3, but {(config.IsFp8 ? "this tensor is never quantized" : "config.json has no fp8 quantization_config")}; expected F32, F16 or BF16.");
            }
        }
        foreach (string name in ckpt.TensorNames)
            if (!expected.Contains(name))
                throw new CheckpointException(
                    $"{ckpt.FileOf(name)}: unexpected tensor '{name}': config.json describes no such tensor (wrong config, or a checkpoint of another architecture).");
    }

    private static void LoadTensor(SafetensorsCheckpoint ckpt, ModelWeights weights, TensorSpec spec, int bo, int bi)
    {
        var info = ckpt.Info(spec.Name);
        byte* src = ckpt.Pointer(spec.Name);
        if (weights.IsVector(spec.Name))
        {
            ToFloat(info.DType, src, 0, weights.Vector(spec.Name).Span);
            return;
        }
        var (w, g) = weights.Slot(spec.Name);
        int n = w.OutFeatures, k = w.InFeatures;
        float* scale = spec.Fp8 ? (float*)ckpt.Pointer(spec.Name + ScaleSuffix) : null;

        if (w.DType == WeightDType.Bf16 && info.DType == SafetensorsDType.BF16)
        {
            new ReadOnlySpan<ushort>(src, checked((int)w.GroupElements)).CopyTo(w.Bf16Group(g));
            return;
        }
        if (w.DType == WeightDType.Fp8 && info.DType == SafetensorsDType.F8_E4M3 && bo == LinearWeight.Block && bi == LinearWeight.Block)
        {
            new ReadOnlySpan<byte>(src, checked((int)w.GroupElements)).CopyTo(w.Fp8Values(g));
            new ReadOnlySpan<float>(scale, w.ScaleRows * w.ScaleCols).CopyTo(w.Fp8ScaleInv(g));
            return;
        }
        var full = new float[w.GroupElements];
        int scaleCols = (k + bi - 1) / bi;
        for (int r = 0; r < n; r++)
        {
            Span<float> row = full.AsSpan(r * k, k);
            ToFloat(info.DType, src, (long)r * k, row);
            if (scale != null)
                for (int c = 0; c < k; c++) row[c] *= scale[r / bo * scaleCols + c / bi];
        }
        w.WriteGroup(g, full);
    }

    /// <summary>dst = elements [first, first + dst.Length) of a tensor of dtype <paramref name="t"/> as floats
    /// (FP8 without its scale).</summary>
    private static void ToFloat(SafetensorsDType t, byte* src, long first, Span<float> dst)
    {
        switch (t)
        {
            case SafetensorsDType.F32: new ReadOnlySpan<float>((float*)src + first, dst.Length).CopyTo(dst); break;
            case SafetensorsDType.BF16: Bf16.ToFloat(new ReadOnlySpan<ushort>((ushort*)src + first, dst.Length), dst); break;
            case SafetensorsDType.F16:
                var h = new ReadOnlySpan<Half>((Half*)src + first, dst.Length);
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)h[i];
                break;
            default: Fp8E4M3.ToFloat(new ReadOnlySpan<byte>(src + first, dst.Length), dst); break;
        }
    }
}
