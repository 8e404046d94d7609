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
        var rng = new Xoshiro256((ulong)seed);
        float[] scratch = [];
        foreach (TensorSpec spec in Manifest)
        {
            if (spec.Shape.Length == 1)
            {
                Span<float> v = Vector(spec.Name).Span;
                bool bias = spec.Name.EndsWith("e_score_correction_bias", StringComparison.Ordinal);
                if (!bias) { v.Fill(1f); continue; }
                rng.FillNormal(v, biasStd);
                continue;
            }
            var (w, g) = Slot(spec.Name);
            if (scratch.Length < w.GroupElements) scratch = new float[w.GroupElements];
            Span<float> s = scratch.AsSpan(0, checked((int)w.GroupElements));
            rng.FillNormal(s, std);
            w.WriteGroup(g, s);
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
