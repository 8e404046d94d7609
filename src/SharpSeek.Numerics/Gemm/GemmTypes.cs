namespace SharpSeek.Numerics;

/// <summary>Operand layouts of an F32 GEMM; every matrix is row-major and dense.
/// NN: C (M,N) = A (M,K) · B (K,N).  NT: C (M,N) = A (M,K) · Bᵀ, B (N,K) (a linear layer, y = x·Wᵀ).
/// TN: C (M,N) = Aᵀ · B, A (K,M), B (K,N) (a weight gradient, dW = dYᵀ·X).</summary>
public enum GemmLayout
{
    NN,
    NT,
    TN,
}

/// <summary>Whether a GEMM overwrites C or adds its product into C (gradient accumulation).</summary>
public enum GemmOutput
{
    Overwrite,
    Accumulate,
}
