// ParameterStore — FP32 master weights and their gradients, allocated once from a size table (llm.c's
// `malloc_and_point_parameters`): one aligned block for all weights, one for all gradients, each parameter a
// view at a fixed offset. The optimizer, the gradient-norm clip and the checkpoint writer walk the slots.
//
//   weights  (N,)  N = Σ ElementCount over the slots, slot i at [Offset_i, Offset_i + Length_i)
//   grads    (N,)  same layout; the backward passes accumulate into it, ZeroGradients clears it
// Or, for training the real model, a view over the model's own FP32 weights and gradients (Wrap): the slots keep
// the packed Offsets (the optimizer's moments use that layout) but point into ModelWeights' buffers.
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

/// <summary>One parameter: its checkpoint name and shape, its offset in the packed layout (the optimizer's
/// moments use the same layout), its length and treatment.</summary>
public sealed record ParameterSlot(string Name, long[] Shape, long Offset, int Length, ParameterTreatment Treatment);

public sealed unsafe class ParameterStore : IDisposable
{
    private readonly NativeBuffer<float>? _weights; // (N,) when the store owns its memory
    private readonly NativeBuffer<float>? _grads;   // (N,)
    private readonly nint[] _weightAt;              // (slots,) address of each slot's weights
    private readonly nint[] _gradAt;                // (slots,) address of each slot's gradient; 0 = none (frozen)
    private readonly Dictionary<string, int> _byName;

    public IReadOnlyList<ParameterSlot> Slots { get; }
    /// <summary>Total FP32 elements N of the packed layout (slots padded to 16 floats).</summary>
    public long ElementCount { get; }

    /// <summary>A store that owns zero-filled weights and gradients for <paramref name="tensors"/>.</summary>
    public ParameterStore(IEnumerable<(string Name, long[] Shape)> tensors, DecayRule? rule = null)
    {
        (Slots, _byName, ElementCount) = Layout(tensors, rule ?? DecayRules.Default);
        _weights = new NativeBuffer<float>(ElementCount);
        _grads = new NativeBuffer<float>(ElementCount);
        _weightAt = Slots.Select(sl => (nint)(_weights.Pointer + sl.Offset)).ToArray();
        _gradAt = Slots.Select(sl => (nint)(_grads.Pointer + sl.Offset)).ToArray();
    }

    /// <summary>A store over memory someone else owns (the model's FP32 weights and gradients): slot i is
    /// <paramref name="weights"/>[i] / <paramref name="grads"/>[i] (grads 0 for a parameter without gradient,
    /// which must be Frozen). The memory must outlive the store.</summary>
    public ParameterStore(IReadOnlyList<(string Name, long[] Shape)> tensors, IReadOnlyList<nint> weights, IReadOnlyList<nint> grads, DecayRule? rule = null)
    {
        (Slots, _byName, ElementCount) = Layout(tensors, rule ?? DecayRules.Default);
        if (weights.Count != Slots.Count || grads.Count != Slots.Count)
            throw new ArgumentException($"{Slots.Count} tensors need as many weight and gradient addresses (got {weights.Count}, {grads.Count}).");
        for (int i = 0; i < Slots.Count; i++)
        {
            if (weights[i] == 0) throw new ArgumentException($"parameter '{Slots[i].Name}' has no weight memory.");
            if (grads[i] == 0 && Slots[i].Treatment != ParameterTreatment.Frozen)
                throw new ArgumentException($"parameter '{Slots[i].Name}' is trained ({Slots[i].Treatment}) but has no gradient memory; enable the model's gradients first.");
        }
        _weightAt = [.. weights];
        _gradAt = [.. grads];
    }

    /// <summary>A store that owns memory for every tensor of <paramref name="config"/>'s checkpoint (TensorManifest order).</summary>
    public static ParameterStore ForModel(ModelConfig config, DecayRule? rule = null) =>
        new(TensorManifest.Build(config).Select(t => (t.Name, t.Shape)), rule);

    /// <summary>A store over a model's own FP32 weights and gradients (ModelWeights.EnableGradients first), one
    /// slot per checkpoint tensor in manifest order — routed experts one slot per expert, pointing into the layer's
    /// (E, N, K) stack — so the optimizer updates the model in place and checkpoints carry HF names.</summary>
    public static ParameterStore Wrap(ModelWeights model, DecayRule? rule = null)
    {
        if (!model.GradientsEnabled)
            throw new InvalidOperationException("call ModelWeights.EnableGradients() before wrapping the model for training.");
        var tensors = new List<(string, long[])>();
        var weights = new List<nint>();
        var grads = new List<nint>();
        foreach (TensorSpec spec in model.Manifest)
        {
            tensors.Add((spec.Name, spec.Shape));
            if (spec.Shape.Length == 1)
            {
                weights.Add((nint)model.Vector(spec.Name).Pointer);
                grads.Add(ModelWeights.IsTrainableVector(spec.Name) ? (nint)model.VectorGradient(spec.Name).Pointer : 0);
                continue;
            }
            var (linear, group) = model.Slot(spec.Name);
            long offset = group * linear.GroupElements;
            weights.Add((nint)(linear.F32Values.Pointer + offset));
            grads.Add((nint)(linear.Gradient.Pointer + offset));
        }
        return new ParameterStore(tensors, weights, grads, rule);
    }

    private static (List<ParameterSlot>, Dictionary<string, int>, long) Layout(IEnumerable<(string Name, long[] Shape)> tensors, DecayRule rule)
    {
        var slots = new List<ParameterSlot>();
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        long offset = 0;
        foreach (var (name, shape) in tensors)
        {
            long n = 1;
            foreach (long d in shape) n *= d;
            if (n <= 0 || n > Array.MaxLength)
                throw new ArgumentException($"parameter '{name}' has {n} elements; each parameter must hold 1..{Array.MaxLength} elements.");
            if (!byName.TryAdd(name, slots.Count))
                throw new ArgumentException($"parameter '{name}' is listed twice.");
            slots.Add(new ParameterSlot(name, (long[])shape.Clone(), offset, (int)n, rule(name, shape)));
            // Keep every slot 64-byte aligned so vector loops start on a cache line.
            offset += (n + 15) & ~15L;
        }
        return (slots, byName, offset);
    }

    public int IndexOf(string name) =>
        _byName.TryGetValue(name, out int i) ? i : throw new KeyNotFoundException($"no parameter named '{name}'.");

    public Span<float> Weights(int slot) => new((float*)_weightAt[slot], Slots[slot].Length);
    public Span<float> Grads(int slot) => _gradAt[slot] != 0 ? new((float*)_gradAt[slot], Slots[slot].Length)
        : throw new InvalidOperationException($"parameter '{Slots[slot].Name}' has no gradient (it is {Slots[slot].Treatment}).");
    public Span<float> Weights(string name) => Weights(IndexOf(name));
    public Span<float> Grads(string name) => Grads(IndexOf(name));

    /// <summary>Weights of a slot as a shaped view (the layers' forward and backward take views).</summary>
    public TensorView<float> WeightsView(int slot) => new((float*)_weightAt[slot], Slots[slot].Shape);
    /// <summary>Gradients of a slot as a shaped view.</summary>
    public TensorView<float> GradsView(int slot) => new((float*)_gradAt[slot], Slots[slot].Shape);

    public void ZeroGradients()
    {
        if (_grads is not null) { _grads.Clear(); return; }
        for (int i = 0; i < Slots.Count; i++)
            if (_gradAt[i] != 0) Grads(i).Clear();
    }

    /// <summary>As <see cref="ZeroGradients()"/>, split over the pool: task t of n clears the t-th n-th of every
    /// slot's gradient (a memory-bound pass over all gradients that would otherwise be a serial piece of the step).</summary>
    public void ZeroGradients(WorkerPool pool)
    {
        if (pool.Threads == 1) { ZeroGradients(); return; }
        var job = new ZeroJob { Store = this, Tasks = 4 * pool.Threads };
        pool.Run(job.Tasks, ref job);
    }

    private readonly struct ZeroJob : IParallelJob
    {
        public ParameterStore Store { get; init; }
        public int Tasks { get; init; }

        public void Execute(int task, int worker)
        {
            if (Store._grads is { } owned)                      // one buffer: its t-th n-th
            {
                Clear(owned.Pointer, owned.Length, task);
                return;
            }
            for (int i = 0; i < Store.Slots.Count; i++)
                if (Store._gradAt[i] != 0) Clear((float*)Store._gradAt[i], Store.Slots[i].Length, task);
        }

        private void Clear(float* g, long n, int task)
        {
            long from = n * task / Tasks, to = n * (task + 1) / Tasks;
            for (long at = from; at < to; at += int.MaxValue / 2)
                new Span<float>(g + at, (int)Math.Min(to - at, int.MaxValue / 2)).Clear();
        }
    }

    public void Dispose()
    {
        _weights?.Dispose();
        _grads?.Dispose();
    }
}
