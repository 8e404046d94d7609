// Xoshiro256** (Blackman & Vigna 2018): a small, fast generator whose whole state is four words, so the trainer can
// save and restore it exactly (trainer_state.json). Seeded through SplitMix64 as its authors recommend.
// The project's one seeded generator: weight initialisation (model and trainer), data sampling and benchmarks.
namespace SharpSeek.Numerics;

public sealed class Xoshiro256
{
    private ulong _s0, _s1, _s2, _s3;

    public Xoshiro256(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix64(x++); _s1 = SplitMix64(x++);
        _s2 = SplitMix64(x++); _s3 = SplitMix64(x);
    }

    /// <summary>SplitMix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mix.</summary>
    public static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>The four state words; assign to restore.</summary>
    public ulong[] State
    {
        get => [_s0, _s1, _s2, _s3];
        set
        {
            if (value is not { Length: 4 } || (value[0] | value[1] | value[2] | value[3]) == 0)
                throw new InvalidDataException("an Xoshiro256 state is four words, not all zero.");
            (_s0, _s1, _s2, _s3) = (value[0], value[1], value[2], value[3]);
        }
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Standard normal (Box–Muller; both values of a pair are not cached, so the state stays four words).</summary>
    public double NextGaussian()
    {
        double u1 = 1.0 - NextDouble(); // (0, 1]
        double u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Fills <paramref name="x"/> with N(0, std²) samples, in order.</summary>
    public void FillNormal(Span<float> x, double std)
    {
        for (int i = 0; i < x.Length; i++) x[i] = (float)(NextGaussian() * std);
    }
}
