// ParameterStore — FP32 master weights and their gradients, allocated once from a size table (llm.c's
// `malloc_and_point_parameters`): one aligned block for all weights, one for all gradients, each parameter a
// view at a fixed offset. The optimizer, the gradient-norm clip and the checkpoint writer walk the slots.
//
//   weights  (N,)  N = Σ ElementCount over the slots, slot i at [Offset_i, Offset_i + Length_i)
//   grads    (N,)  same layout; the backward passes accumulate into it, ZeroGradients clears it
using SharpSeek.Model;
using SharpSeek.Numerics;

namespace SharpSeek.Training;

/// <summary>How the optimizer treats a parameter.</summary>
public enum ParameterTreatment
{
    /// <summary>AdamW with decoupled weight decay (matrices, embeddings, heads).</summary>
    Decay,
    /// <summary>AdamW without weight decay (RMSNorm scales, biases).</summary>
    NoDecay,
    /// <summary>Not touched by the optimizer (the router's <c>e_score_correction_bias</c>: the balancer owns it).</summary>
    Frozen,
}

/// <summary>Decides the treatment of a parameter from its checkpoint name and shape.</summary>
public delegate ParameterTreatment DecayRule(string name, long[] shape);

public static class DecayRules
{
    /// <summary>The default: the router's correction bias is frozen (updated by the balancer); tensors of rank ≥ 2
    /// decay; vectors (norm scales, biases) do not.</summary>
    public static ParameterTreatment Default(string name, long[] shape) =>
        name.EndsWith("e_score_correction_bias", StringComparison.Ordinal) ? ParameterTreatment.Frozen
        : shape.Length >= 2 ? ParameterTreatment.Decay
        : ParameterTreatment.NoDecay;
}

/// <summary>One parameter's place in the store.</summary>
public sealed record ParameterSlot(string Name, long[] Shape, long Offset, int Length, ParameterTreatment Treatment);

public sealed class ParameterStore : IDisposable
{
    private readonly NativeBuffer<float> _weights; // (N,)
    private readonly NativeBuffer<float> _grads;   // (N,)
    private readonly Dictionary<string, int> _byName;

    public IReadOnlyList<ParameterSlot> Slots { get; }
    /// <summary>Total FP32 elements N.</summary>
    public long ElementCount { get; }

    public ParameterStore(IEnumerable<(string Name, long[] Shape)> tensors, DecayRule? rule = null)
    {
        rule ??= DecayRules.Default;
        var slots = new List<ParameterSlot>();
        _byName = new Dictionary<string, int>(StringComparer.Ordinal);
        long offset = 0;
        foreach (var (name, shape) in tensors)
        {
            long n = 1;
            foreach (long d in shape) n *= d;
            if (n <= 0 || n > Array.MaxLength)
                throw new ArgumentException($"parameter '{name}' has {n} elements; each parameter must hold 1..{Array.MaxLength} elements.");
            if (!_byName.TryAdd(name, slots.Count))
                throw new ArgumentException($"parameter '{name}' is listed twice.");
            slots.Add(new ParameterSlot(name, (long[])shape.Clone(), offset, (int)n, rule(name, shape)));
            // Keep every slot 64-byte aligned so vector loops start on a cache line.
            offset += (n + 15) & ~15L;
        }
        Slots = slots;
        ElementCount = offset;
        _weights = new NativeBuffer<float>(offset);
        _grads = new NativeBuffer<float>(offset);
    }

    /// <summary>A store for every tensor of <paramref name="config"/>'s checkpoint (TensorManifest order).</summary>
    public static ParameterStore ForModel(ModelConfig config, DecayRule? rule = null) =>
        new(TensorManifest.Build(config).Select(t => (t.Name, t.Shape)), rule);

    public int IndexOf(string name) =>
        _byName.TryGetValue(name, out int i) ? i : throw new KeyNotFoundException($"no parameter named '{name}'.");

    public Span<float> Weights(int slot) => _weights.Slice(Slots[slot].Offset, Slots[slot].Length);
    public Span<float> Grads(int slot) => _grads.Slice(Slots[slot].Offset, Slots[slot].Length);
    public Span<float> Weights(string name) => Weights(IndexOf(name));
    public Span<float> Grads(string name) => Grads(IndexOf(name));

    /// <summary>Weights of a slot as a shaped view (the layers' forward and backward take views).</summary>
    public unsafe TensorView<float> WeightsView(int slot) => new(_weights.Pointer + Slots[slot].Offset, Slots[slot].Shape);
    /// <summary>Gradients of a slot as a shaped view.</summary>
    public unsafe TensorView<float> GradsView(int slot) => new(_grads.Pointer + Slots[slot].Offset, Slots[slot].Shape);

    public void ZeroGradients() => _grads.Clear();

    public void Dispose()
    {
        _weights.Dispose();
        _grads.Dispose();
    }
}
