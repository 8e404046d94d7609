// ITokenEncoder — what the data pipeline needs from a tokenizer. The project's byte-level BPE (Tokenizers) is
// adapted to it; tests use small deterministic encoders.
namespace SharpSeek.Training.Data;

public interface ITokenEncoder
{
    /// <summary>Ids are in [0, VocabSize).</summary>
    int VocabSize { get; }

    /// <summary>Appended after every document so windows that cross a document boundary see it; null = none.</summary>
    int? EndOfDocumentId { get; }

    /// <summary>A string that changes whenever the encoding changes (e.g. a hash of tokenizer.json); part of the
    /// shard cache key.</summary>
    string Fingerprint { get; }

    int[] Encode(string text);
}
