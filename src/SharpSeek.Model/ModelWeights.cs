// ModelWeights — every parameter of a DeepSeek-V3 model, allocated once from the TensorManifest (llm.c's
// fill_in_parameter_sizes + malloc_and_point_parameters), addressable by checkpoint name.
//
// Storage decisions (DESIGN §2, model.md §3):
//   1-D tensors (RMSNorm weights, e_score_correction_bias)  -> F32 vectors
//   router gate (E, D)                                     -> F32 (the router runs in FP32)
//   embed_tokens / lm_head / shared_head.head (V, D)       -> the model dtype, BF16 when that is FP8
//                                                             (the official FP8 release keeps them BF16)
//   routed experts of a layer                              -> one LinearWeight with G = E groups per projection
//   every other linear                                     -> the model dtype
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model;

public sealed partial class ModelWeights : IDisposable
{
    private readonly Dictionary<string, LinearWeight> _linears = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NativeBuffer<float>> _vectors = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (LinearWeight Weight, int Group)> _byCheckpointName = new(StringComparer.Ordinal);

    public ModelConfig Config { get; }
    public WeightDType DType { get; }
    public IReadOnlyList<TensorSpec> Manifest { get; }

    private ModelWeights(ModelConfig config, WeightDType dtype)
    {
        Config = config;
        DType = dtype;
        Manifest = TensorManifest.Build(config);
    }

    /// <summary>Allocates (zero-filled) storage for every manifest tensor.</summary>
    public static ModelWeights Allocate(ModelConfig config, WeightDType dtype)
    {
        var w = new ModelWeights(config, dtype);
        try
        {
            foreach (TensorSpec spec in w.Manifest)
            {
                if (spec.Shape.Length == 1)
                {
                    w._vectors.Add(spec.Name, new NativeBuffer<float>(spec.Shape[0]));
                    continue;
                }
                string key = GroupKey(spec);
                if (!w._linears.TryGetValue(key, out LinearWeight? lw))
                {
                    int groups = spec.Expert >= 0 ? config.NRoutedExperts : 1;
                    lw = new LinearWeight(groups, checked((int)spec.Shape[0]), checked((int)spec.Shape[1]), StorageDType(spec, dtype));
                    w._linears.Add(key, lw);
                }
                w._byCheckpointName.Add(spec.Name, (lw, Math.Max(0, spec.Expert)));
            }
            return w;
        }
        catch
        {
            w.Dispose();
            throw;
        }
    }

    /// <summary>Routed expert e of a layer maps to group e of "…mlp.experts.gate_proj.weight".</summary>
    public static string GroupKey(TensorSpec spec) =>
        spec.Expert < 0 ? spec.Name : spec.Name.Replace($".experts.{spec.Expert}.", ".experts.", StringComparison.Ordinal);

    public static WeightDType StorageDType(TensorSpec spec, WeightDType model)
    {
        if (spec.Component == TensorComponent.Router) return WeightDType.F32;
        bool table = spec.Name.EndsWith("embed_tokens.weight", StringComparison.Ordinal) || spec.Name.EndsWith("head.weight", StringComparison.Ordinal);
        return table && model == WeightDType.Fp8 ? WeightDType.Bf16 : model;
    }

    public LinearWeight Linear(string name) =>
        _linears.TryGetValue(name, out var w) ? w : throw new KeyNotFoundException($"no linear weight '{name}' in the {Config.ModelType} manifest.");

    public NativeBuffer<float> Vector(string name) =>
        _vectors.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"no vector '{name}' in the manifest.");

    public bool IsVector(string checkpointName) => _vectors.ContainsKey(checkpointName);

    /// <summary>The linear storage and group a checkpoint tensor name lands in.</summary>
    public (LinearWeight Weight, int Group) Slot(string checkpointName) =>
        _byCheckpointName.TryGetValue(checkpointName, out var s) ? s : throw new KeyNotFoundException($"no linear tensor '{checkpointName}'.");

    /// <summary>Bytes of all linear weights and vectors as held in memory.</summary>
    public long Bytes => _linears.Values.Sum(l => l.Bytes) + _vectors.Values.Sum(v => v.Length * 4);

    /// <summary>Random weights for presets and tests: linears ~ N(0, std²) (FP8: block-quantized from that),
    /// norm weights 1, router biases ~ N(0, biasStd²) (0 when biasStd = 0).</summary>
    public void InitRandom(int seed, double std, double biasStd = 0)
    {
        var rng = new GaussianSource((ulong)seed);
        float[] scratch = [];
        foreach (TensorSpec spec in Manifest)
        {
            if (spec.Shape.Length == 1)
            {
                Span<float> v = Vector(spec.Name).Span;
                bool bias = spec.Name.EndsWith("e_score_correction_bias", StringComparison.Ordinal);
                if (!bias) { v.Fill(1f); continue; }
                rng.Fill(v, (float)biasStd);
                continue;
            }
            var (w, g) = Slot(spec.Name);
            if (scratch.Length < w.GroupElements) scratch = new float[w.GroupElements];
            Span<float> s = scratch.AsSpan(0, checked((int)w.GroupElements));
            rng.Fill(s, (float)std);
            w.WriteGroup(g, s);
        }
    }

    /// <summary>N(0, σ²) samples from SplitMix64 + Box–Muller (two samples per pair of uniforms): seeded,
    /// platform-independent and fast enough to fill a few hundred million weights.</summary>
    private struct GaussianSource(ulong seed)
    {
        private ulong _state = seed * 0x9E3779B97F4A7C15UL + 1;

        private double Uniform()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return ((z >> 11) + 0.5) * (1.0 / (1UL << 53));   // (0, 1)
        }

        public void Fill(Span<float> dst, float sigma)
        {
            for (int i = 0; i < dst.Length; i += 2)
            {
                double r = Math.Sqrt(-2.0 * Math.Log(Uniform()));
                var (sin, cos) = Math.SinCos(2 * Math.PI * Uniform());
                dst[i] = (float)(r * cos) * sigma;
                if (i + 1 < dst.Length) dst[i + 1] = (float)(r * sin) * sigma;
            }
        }
    }

    public void Dispose()
    {
        foreach (var l in _linears.Values) l.Dispose();
        foreach (var v in _vectors.Values) v.Dispose();
        foreach (var g in _vectorGrads.Values) g.Dispose();
        _vectorGrads.Clear();
        _linears.Clear();
        _vectors.Clear();
    }
}
