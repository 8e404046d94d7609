// ModelWeights gradients — llm.c's grads_memory: one FP32 buffer per parameter with exactly the parameter's
// layout, allocated by an explicit EnableGradients() (inference never pays for it), and the list of trainable
// parameters the optimizer builds its slots over.
//
//   linear "name" (G, N, K)   -> LinearWeight.Gradient (G, N, K)    (routed experts: one entry per layer and
//                                                                    projection, group key "…experts.gate_proj.weight")
//   vector "name" (n)         -> VectorGradient(name) (n)           (RMSNorm weights)
//   e_score_correction_bias   -> none: it is moved by the auxiliary-loss-free balancer, not by gradients
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model;

/// <summary>One trainable tensor: its checkpoint name (or group key for routed experts), shape, and the FP32
/// weight and gradient memory (<see cref="Length"/> floats each, same layout).</summary>
public readonly unsafe record struct TrainableParameter(string Name, long[] Shape, long Length, nint WeightAddress, nint GradientAddress)
{
    public float* Weight => (float*)WeightAddress;
    public float* Gradient => (float*)GradientAddress;
    public Span<float> WeightSpan => new(Weight, checked((int)Length));
    public Span<float> GradientSpan => new(Gradient, checked((int)Length));
}

public sealed unsafe partial class ModelWeights
{
    private readonly Dictionary<string, NativeBuffer<float>> _vectorGrads = new(StringComparer.Ordinal);

    public bool GradientsEnabled { get; private set; }

    /// <summary>Whether a 1-D checkpoint tensor is trained by gradients (everything but the router bias).</summary>
    public static bool IsTrainableVector(string name) => !name.EndsWith("e_score_correction_bias", StringComparison.Ordinal);

    /// <summary>Allocates zero-filled FP32 gradients for every trainable parameter. Needs FP32 weights.</summary>
    public void EnableGradients()
    {
        if (GradientsEnabled) return;
        if (DType != WeightDType.F32)
            throw new NotSupportedException($"training needs FP32 weights, but the model was loaded as {DType}; use --dtype f32.");
        foreach (LinearWeight lw in _linears.Values) lw.EnableGradient();
        foreach (var (name, v) in _vectors)
            if (IsTrainableVector(name)) _vectorGrads.Add(name, new NativeBuffer<float>(v.Length));
        GradientsEnabled = true;
    }

    /// <summary>dL/dw (n) of a trainable vector (RMSNorm weight).</summary>
    public NativeBuffer<float> VectorGradient(string name) =>
        _vectorGrads.TryGetValue(name, out var g) ? g
        : throw new InvalidOperationException(_vectors.ContainsKey(name)
            ? $"vector '{name}' has no gradient: call EnableGradients() first (router biases never have one)."
            : $"no vector '{name}' in the manifest.");

    /// <summary>Sets every gradient to zero (start of an optimizer step's accumulation); allocates nothing.</summary>
    public void ZeroGradients()
    {
        if (!GradientsEnabled) throw new InvalidOperationException("call EnableGradients() before zeroing gradients.");
        foreach (LinearWeight lw in _linears.Values) lw.Gradient.Clear();
        foreach (NativeBuffer<float> g in _vectorGrads.Values) g.Clear();
    }

    /// <summary>Every trainable parameter in manifest order (routed experts of a layer and projection once, as
    /// (E, N, K) under their group key). Requires EnableGradients().</summary>
    public IReadOnlyList<TrainableParameter> TrainableParameters()
    {
        if (!GradientsEnabled)
            throw new InvalidOperationException("call EnableGradients() before enumerating trainable parameters.");
        var list = new List<TrainableParameter>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (TensorSpec spec in Manifest)
        {
            if (spec.Shape.Length == 1)
            {
                if (!IsTrainableVector(spec.Name)) continue;
                NativeBuffer<float> v = _vectors[spec.Name];
                list.Add(new TrainableParameter(spec.Name, [v.Length], v.Length, (nint)v.Pointer, (nint)_vectorGrads[spec.Name].Pointer));
                continue;
            }
            string key = GroupKey(spec);
            if (!seen.Add(key)) continue;
            LinearWeight lw = _linears[key];
            long[] shape = lw.Groups == 1 ? [lw.OutFeatures, lw.InFeatures] : [lw.Groups, lw.OutFeatures, lw.InFeatures];
            list.Add(new TrainableParameter(key, shape, lw.GroupElements * lw.Groups, (nint)lw.F32Values.Pointer, (nint)lw.Gradient.Pointer));
        }
        return list;
    }
}
