// Safetensors format basics shared by the reader and the writer.
//
// File layout (https://github.com/huggingface/safetensors):
//   [u64 little-endian N][N bytes of UTF-8 JSON header][data region]
//   header = { "<name>": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, …, "__metadata__": {..} }
//   offsets are relative to the start of the data region; tensors are dense, row-major, little-endian.
namespace SharpSeek.Model.Checkpoints;

/// <summary>The element types SharpSeek reads and writes.</summary>
public enum SafetensorsDType
{
    F32,
    F16,
    BF16,
    F8_E4M3,
}

public static class SafetensorsFormat
{
    /// <summary>Largest header we accept (the official 671B shards have headers of a few hundred KB).</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    public const string IndexFileName = "model.safetensors.index.json";
    public const string SingleFileName = "model.safetensors";

    public static int ElementSize(SafetensorsDType t) => t switch
    {
        SafetensorsDType.F32 => 4,
        SafetensorsDType.F16 or SafetensorsDType.BF16 => 2,
        SafetensorsDType.F8_E4M3 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown safetensors dtype"),
    };

    public static string Name(SafetensorsDType t) => t.ToString();

    public static bool TryParse(string? s, out SafetensorsDType t)
    {
        switch (s)
        {
            case "F32": t = SafetensorsDType.F32; return true;
            case "F16": t = SafetensorsDType.F16; return true;
            case "BF16": t = SafetensorsDType.BF16; return true;
            case "F8_E4M3": t = SafetensorsDType.F8_E4M3; return true;
            default: t = default; return false;
        }
    }

    public static long ElementCount(IReadOnlyList<long> shape)
    {
        long n = 1;
        foreach (long d in shape) n = checked(n * d);
        return n;
    }

    public static string ShapeString(IReadOnlyList<long> shape) => "[" + string.Join(", ", shape) + "]";
}

/// <summary>A checkpoint file or directory that is malformed or does not match the model; the message names the
/// file and the tensor and says what to do.</summary>
public sealed class CheckpointException : IOException
{
    public CheckpointException(string message) : base(message) { }
    public CheckpointException(string message, Exception inner) : base(message, inner) { }
}
