// ParameterInit — the starting weights of a training run (DeepSeek-V3 report §4.2: "all learnable parameters are
// randomly initialized with a standard deviation of 0.006"):
//   rank ≥ 2 (linear weights, embeddings, heads)       N(0, std²)
//   RMSNorm scales (`…norm.weight`, `…layernorm.weight`) 1
//   other vectors and the router's correction bias      0
// Each tensor draws from its own Xoshiro256 seeded by (run seed, tensor name), so the values of a tensor do not
// depend on which other tensors exist or in which order they are initialised.
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using SharpSeek.Numerics;
using SharpSeek.Training.Data;

namespace SharpSeek.Training;

public static class ParameterInit
{
    public static void Initialize(ParameterStore store, ulong seed, double std)
    {
        if (!(std > 0) || !double.IsFinite(std)) throw new ArgumentOutOfRangeException(nameof(std), std, "init std must be a positive number.");
        Parallel.For(0, store.Slots.Count, i => InitializeSlot(store, i, seed, std));
    }

    public static void InitializeSlot(ParameterStore store, int slot, ulong seed, double std)
    {
        ParameterSlot s = store.Slots[slot];
        Span<float> w = store.Weights(slot);
        if (s.Treatment == ParameterTreatment.Frozen) w.Clear();
        else if (s.Shape.Length >= 2) new Xoshiro256(TensorSeed(seed, s.Name)).FillNormal(w, std);
        else if (IsNormScale(s.Name)) w.Fill(1f);
        else w.Clear();
    }

    public static bool IsNormScale(string name) => name.EndsWith("norm.weight", StringComparison.Ordinal);

    /// <summary>A per-tensor seed: SplitMix64 of the run seed mixed with the first 8 bytes of SHA-256(name).</summary>
    public static ulong TensorSeed(ulong seed, string name) =>
        Xoshiro256.SplitMix64(seed ^ BinaryPrimitives.ReadUInt64LittleEndian(SHA256.HashData(Encoding.UTF8.GetBytes(name))));
}
