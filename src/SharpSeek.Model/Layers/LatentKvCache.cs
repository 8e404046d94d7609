// LatentKvCache — MLA's decode cache: per layer and per token only the normalised latent c_kv (Rkv) and the
// roped shared key k_pe (Dr), never per-head keys or values (DeepSeek-V2/V3 §2.1.1).
//
//   ckv[layer] (Slots, S, Rkv)     kpe[layer] (Slots, S, Dr)      S = MaxSeqLen, FP32
//   bytes per token = (Rkv + Dr) × layers × 4
// A slot holds one sequence; the engine (SharpSeek.Inference) assigns slots and tracks lengths.
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe class LatentKvCache : IDisposable
{
    public const int ElementSize = sizeof(float);

    private readonly NativeBuffer<float>[] _ckv;
    private readonly NativeBuffer<float>[] _kpe;

    public int Layers { get; }
    public int Slots { get; }
    public int MaxSeqLen { get; }
    public int KvLoraRank { get; }
    public int RopeDim { get; }

    public LatentKvCache(ModelConfig config, int slots, int maxSeqLen, int layers = -1)
    {
        if (slots <= 0 || maxSeqLen <= 0) throw new ArgumentException($"cache needs slots > 0 and maxSeqLen > 0 (got {slots}, {maxSeqLen}).");
        Layers = layers < 0 ? config.NumHiddenLayers : layers;
        Slots = slots;
        MaxSeqLen = maxSeqLen;
        KvLoraRank = config.KvLoraRank;
        RopeDim = config.QkRopeHeadDim;
        _ckv = new NativeBuffer<float>[Layers];
        _kpe = new NativeBuffer<float>[Layers];
        for (int l = 0; l < Layers; l++)
        {
            _ckv[l] = new NativeBuffer<float>((long)slots * maxSeqLen * KvLoraRank);
            _kpe[l] = new NativeBuffer<float>((long)slots * maxSeqLen * RopeDim);
        }
    }

    /// <summary>(KvLoraRank + QkRopeHeadDim) × layers × element size.</summary>
    public long BytesPerToken => (long)(KvLoraRank + RopeDim) * Layers * ElementSize;

    public long TotalBytes => BytesPerToken * Slots * MaxSeqLen;

    /// <summary>Row 0 of slot <paramref name="slot"/>'s c_kv in layer <paramref name="layer"/>: (S, Rkv).</summary>
    public float* Ckv(int layer, int slot) => _ckv[layer].Pointer + (long)slot * MaxSeqLen * KvLoraRank;

    /// <summary>Row 0 of slot <paramref name="slot"/>'s k_pe in layer <paramref name="layer"/>: (S, Dr).</summary>
    public float* Kpe(int layer, int slot) => _kpe[layer].Pointer + (long)slot * MaxSeqLen * RopeDim;

    public void Dispose()
    {
        foreach (var b in _ckv) b.Dispose();
        foreach (var b in _kpe) b.Dispose();
    }
}
