// Sampler — next token from logits: greedy at temperature 0, else softmax(logits / T) restricted to the top-k
// tokens and then to the smallest prefix of them whose probability reaches top-p (nucleus), drawn with a seeded
// generator (same seed, same logits -> same tokens). NaN logits are never drawn. Neither the top-k nor the top-p
// path sorts the whole vocabulary: top-k selects with the router's TopK, top-p sorts only the tokens heavy enough
// to lie in the nucleus, and with neither the draw runs over the vocabulary in index order.
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using SharpSeek.Numerics;

namespace SharpSeek.Inference;

public sealed record SamplingOptions(double Temperature = 0, double TopP = 1.0, int TopK = 0, int Seed = 0)
{
    public void Validate()
    {
        if (!(Temperature >= 0)) throw new ArgumentException($"--temperature must be >= 0 (got {Temperature}).");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"--top-p must be in (0, 1] (got {TopP}).");
        if (TopK < 0) throw new ArgumentException($"--top-k must be >= 0 (0 = off; got {TopK}).");
    }
}

public sealed class Sampler
{
    private readonly SamplingOptions _o;
    private readonly Random _rng;
    private int[] _order = [];
    private float[] _keys = [];
    private double[] _weights = [];
    private ulong[] _ranked = [];
    private float[] _relative = [];

    public Sampler(SamplingOptions options)
    {
        options.Validate();
        _o = options;
        _rng = new Random(options.Seed);
    }

    /// <summary>Next token; allocates nothing after the first call for a vocabulary size.</summary>
    public int Next(ReadOnlySpan<float> logits)
    {
        if (_o.Temperature == 0) return ArgMax(logits);
        int v = logits.Length;
        if (_order.Length != v) { _order = new int[v]; _keys = new float[v]; _weights = new double[v]; _ranked = new ulong[v]; _relative = new float[v]; }
        int keep;
        double sum = 0;
        Span<double> p = _weights;
        if (_o.TopK > 0 && _o.TopK < v)
        {
            keep = SelectTopK(logits, _o.TopK);
            if (keep == 0 || float.IsPositiveInfinity(_keys[0])) return Degenerate(logits);   // all NaN, or a +∞
            double max = _keys[0];
            for (int i = 0; i < keep; i++) sum += p[i] = Math.Exp((_keys[i] - max) / _o.Temperature);
        }
        else if (_o.TopP >= 1) return DrawAll(logits);
        else
        {
            keep = SelectNucleusCandidates(logits, out sum);
            if (keep == 0) return Degenerate(logits);
        }
        double cum = 0;
        int n = 0;
        while (n < keep)
        {
            cum += p[n] / sum;
            n++;
            if (cum >= _o.TopP) break;
        }
        double total = 0;
        for (int i = 0; i < n; i++) total += p[i];
        double u = _rng.NextDouble() * total;
        for (int i = 0; i < n; i++)
        {
            u -= p[i];
            if (u <= 0) return _order[i];
        }
        return _order[n - 1];
    }

    /// <summary>No top-k and top-p = 1: the whole distribution, drawn in vocabulary order (no sort needed), block
    /// by block: a block whose mass the draw passes is skipped by its vectorized sum.</summary>
    private int DrawAll(ReadOnlySpan<float> logits)
    {
        if (!Weigh(logits)) return Degenerate(logits);
        ReadOnlySpan<float> w = _relative;
        float total = TensorPrimitives.Sum(w);
        if (!float.IsFinite(total)) return Degenerate(logits);
        double u = _rng.NextDouble() * total;
        int last = -1;
        for (int b = 0; b < w.Length; b += DrawBlock)
        {
            ReadOnlySpan<float> block = w.Slice(b, Math.Min(DrawBlock, w.Length - b));
            float mass = TensorPrimitives.Sum(block);
            if (mass > 0 && u > mass) { u -= mass; last = b + block.LastIndexOfAnyExcept(0f); continue; }
            for (int i = 0; i < block.Length; i++)
            {
                if (!(block[i] > 0)) continue;
                last = b + i;
                u -= block[i];
                if (u <= 0) return last;
            }
        }
        return last;   // rounding left u a hair above 0 after the last token
    }

    private const int DrawBlock = 256;

    /// <summary>Top-p without top-k: the tokens that can lie in the nucleus, sorted (descending logits, equal logits
    /// by lower index) into _order / _weights [0, count), and the sum of every token's weight. One pass buckets the
    /// probabilities w = softmax(l/T) ∈ [0, 1] by binary exponent and adds up each bucket's mass; the heaviest buckets
    /// whose mass reaches top_p·S hold every token heavier than the rest, so they contain the nucleus (the lightest
    /// descending prefix with mass ≥ top_p·S), and only they are sorted — at most about twice the nucleus, not the
    /// whole vocabulary (129K for DeepSeek-V3).</summary>
    private int SelectNucleusCandidates(ReadOnlySpan<float> logits, out double sum)
    {
        sum = 0;
        if (!Weigh(logits)) return 0;
        // Four histograms (so equal buckets in a row do not wait on each other's adds), each with a last slot that
        // takes the left-out weights, chosen without a branch: half the tokens of a peaked softmax fall either side
        // of 2^-63, and a branch (or Math.Min) mispredicted on them made this loop 3.5x slower at V = 129K.
        const int Slots = Buckets + 1;
        Span<double> lanes = stackalloc double[4 * Slots];
        lanes.Clear();
        float[] relative = _relative;
        for (int i = 0; i < relative.Length; i++)
        {
            float w = relative[i];
            int b = Bucket(w);
            uint over = (uint)((ulong)(Buckets - 1 - (long)(uint)b) >> 63);   // 1 when b is out of [0, Buckets)
            lanes[(i & 3) * Slots + (int)(((uint)b & (over - 1)) | (over * Buckets))] += w;
        }
        Span<double> mass = lanes[..Buckets];
        for (int k = 0; k < Buckets; k++)
        {
            mass[k] += lanes[Slots + k] + lanes[2 * Slots + k] + lanes[3 * Slots + k];
            sum += mass[k];
        }
        int last = 0;                                   // the lightest bucket taken
        for (double cum = mass[0]; cum < _o.TopP * sum && last < Buckets - 1; ) cum += mass[++last];
        int count = 0;
        for (int i = 0; i < relative.Length; i++)   // rank key: ascending = descending logit, then ascending index
            if ((uint)Bucket(relative[i]) <= (uint)last) _ranked[count++] = (ulong)Descending(logits[i]) << 32 | (uint)i;
        Array.Sort(_ranked, 0, count);
        for (int r = 0; r < count; r++)
        {
            _order[r] = (int)(uint)_ranked[r];
            _weights[r] = _relative[_order[r]];
        }
        return count;
    }

    private const int Buckets = 64;

    /// <summary>−(binary exponent) of a probability in [0, 1]: 0 for 1, 1 for [0.5, 1), 2 for [0.25, 0.5), …, 63 for
    /// [2^-63, 2^-62). Lighter ones (also 0 and denormals) give Buckets or more and NaN a negative bucket: neither is
    /// a candidate, and the left-out mass is less than V·2^-63.</summary>
    private static int Bucket(float w) => 127 - (int)(BitConverter.SingleToUInt32Bits(w) >> 23);

    /// <summary>_relative = softmax(logits / T) over the non-NaN logits (NaN logits weigh 0, as −∞ ones do), by the
    /// vectorized softmax; false when every logit is NaN.</summary>
    private bool Weigh(ReadOnlySpan<float> logits)
    {
        float inverse = (float)(1 / _o.Temperature);
        bool any = false;
        for (int i = 0; i < logits.Length; i++)
        {
            float x = logits[i];
            any |= !float.IsNaN(x);
            _relative[i] = float.IsNaN(x) ? float.NegativeInfinity : x * inverse;
        }
        if (any) Softmax.Forward(1, logits.Length, _relative, _relative);
        return any;
    }

    /// <summary>An unsigned key that sorts non-NaN floats in descending order, equal floats (−0 and +0 too) alike.</summary>
    private static uint Descending(float x)
    {
        if (x == 0) x = 0;
        uint bits = BitConverter.SingleToUInt32Bits(x);
        uint ascending = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
        return ~ascending;
    }

    /// <summary>The k largest logits into _keys (descending) / _order [0, k) — equal logits by lower index — through
    /// the router's vectorized <see cref="TopK"/>; returns how many are not NaN (TopK ranks NaN as −∞, so NaN
    /// logits are picked only when fewer than k others are, and are dropped here).</summary>
    private int SelectTopK(ReadOnlySpan<float> logits, int k)
    {
        TopK.Select(logits, k, _keys.AsSpan(0, k), _order.AsSpan(0, k));
        int n = 0;
        for (int i = 0; i < k; i++)   // drop NaN entries (ranked among the −∞ ones), keeping the order
            if (!float.IsNaN(_keys[i])) { _keys[n] = _keys[i]; _order[n] = _order[i]; n++; }
        return n;
    }

    /// <summary>The token when softmax has no finite weights — some logit is +∞ (softmax is NaN everywhere), or every
    /// logit is NaN or −∞: the first +∞ one, else the arg-max. Every sampling path ends here in those cases, so they
    /// agree; the search runs only then (a bit-pattern search: float's IndexOf compares element by element).</summary>
    private static int Degenerate(ReadOnlySpan<float> logits) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(logits).IndexOf(0x7F800000u) is int infinite and >= 0
            ? infinite : ArgMax(logits);

    /// <summary>Greedy decoding: the first index of the largest non-NaN value (−0 and +0 alike); 0 when every value is
    /// NaN or x is empty. Two vector passes — the maximum, then its first index — instead of a compare-and-branch per
    /// element (16,384 logits: ≈16 µs a row scalar).</summary>
    public static int ArgMax(ReadOnlySpan<float> x)
    {
        float max = float.NegativeInfinity;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= 2 * Vector256<float>.Count)
        {
            var m = Vector256.Create(float.NegativeInfinity);
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.Create(x.Slice(i, Vector256<float>.Count));
                m = Vector256.ConditionalSelect(Vector256.GreaterThan(v, m), v, m);   // a NaN lane compares false: kept out
            }
            for (int lane = 0; lane < Vector256<float>.Count; lane++) if (m[lane] > max) max = m[lane];
        }
        for (; i < x.Length; i++) if (x[i] > max) max = x[i];
        i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (var target = Vector256.Create(max); i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                uint hits = Vector256.Equals(Vector256.Create(x.Slice(i, Vector256<float>.Count)), target).ExtractMostSignificantBits();
                if (hits != 0) return i + System.Numerics.BitOperations.TrailingZeroCount(hits);
            }
        for (; i < x.Length; i++) if (x[i] == max) return i;
        return 0;   // every value NaN (or none)
    }

    /// <summary>The scalar definition of <see cref="ArgMax"/>, its test oracle.</summary>
    public static int ArgMaxReference(ReadOnlySpan<float> x)
    {
        int a = -1;
        for (int i = 0; i < x.Length; i++) if (!float.IsNaN(x[i]) && (a < 0 || x[i] > x[a])) a = i;
        return Math.Max(a, 0);
    }
}
