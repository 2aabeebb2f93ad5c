<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="generator" content="ce2nce with NiReports" />
<title>{{ title }}</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; margin: 0; color: #222; }
nav { position: sticky; top: 0; background: #f4f4f4; border-bottom: 1px solid #ccc; padding: 0.4em 1em; z-index: 2; }
nav a { margin-right: 1.2em; color: #0b5394; text-decoration: none; }
main { padding: 0 1.5em 3em 1.5em; }
h1 { font-size: 1.6em; border-bottom: 2px solid #0b5394; padding-top: 0.8em; }
h2 { font-size: 1.25em; margin-top: 1.4em; }
h3 { font-size: 1.05em; color: #444; }
.elem-caption, .elem-desc { color: #555; max-width: 70em; }
.reportlet img, .reportlet object { width: 100%; max-width: 1400px; background: #000; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eef2f7; }
.flag-raised { background: #fde2e1; font-weight: bold; }
.flag-ok { background: #e3f4e1; }
.missing { background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.4em 0.8em; }
.error { background: #fde2e1; border-left: 4px solid #c0392b; padding: 0.4em 0.8em; }
pre { white-space: pre-wrap; background: #f7f7f7; padding: 0.6em; font-size: 0.85em; max-width: 80em; }
details { margin: 0.4em 0; }
.boiler-html, .boiler-md { max-width: 80em; }
.qc-rating { border: 1px solid #0b5394; margin: 0.4em 0; padding: 0.4em 0.8em; }
.qc-rating legend { font-family: monospace; font-size: 0.9em; }
.qc-choice { margin-right: 1.2em; }
.qc-download { background: #eef2f7; border-left: 4px solid #0b5394; padding: 0.4em 0.8em; }
</style>
{% for hh in header %}
{{ hh }}
{% endfor %}
</head>
<body>
<nav>
{% for sub_report in sections %}<a href="#section-{{ loop.index }}">{{ sub_report.name }}</a>{% endfor %}
</nav>
<main>
{% for sub_report in sections %}
    {% if sub_report.reportlets %}
    <section id="section-{{ loop.index }}">
    <h1>{{ sub_report.name }}</h1>
    {% for run_report in sub_report.reportlets %}
        <div id="{{ run_report.name }}">
            {% if run_report.title %}<h2>{{ run_report.title }}</h2>{% endif %}
            {% if run_report.subtitle %}<h3>{{ run_report.subtitle }}</h3>{% endif %}
            {% if run_report.description %}<p class="elem-desc">{{ run_report.description }}</p>{% endif %}
            {% for elem in run_report.components %}
                {% if elem[0] %}
                    {% if elem[1] %}<p class="elem-caption">{{ elem[1] }}</p>{% endif %}
                    {{ elem[0] }}
                {% endif %}
            {% endfor %}
        </div>
    {% endfor %}
    </section>
    {% endif %}
{% endfor %}
{% for ff in footer %}
{{ ff }}
{% endfor %}
</main>
<script>
/* QC ratings: every rating form of the page as a TSV the browser downloads (no network). */
(function () {
  "use strict";
  var button = document.getElementById("qc-ratings-download");
  if (!button) { return; }
  function clean(text) { return text.replace(/[\t\r\n]+/g, " ").trim(); }
  function ratingsTsv() {
    var lines = ["participant_id\timage\trating\tcomment"];
    var forms = document.querySelectorAll("fieldset.qc-rating");
    var rated = 0;
    for (var i = 0; i < forms.length; i++) {
      var chosen = forms[i].querySelector("input[type=radio]:checked");
      var comment = forms[i].querySelector("input.qc-comment");
      if (chosen) { rated += 1; }
      lines.push([forms[i].getAttribute("data-participant"), forms[i].getAttribute("data-image"),
                  chosen ? chosen.value : "n/a", clean(comment ? comment.value : "")].join("\t"));
    }
    return {text: lines.join("\n") + "\n", rated: rated, total: forms.length};
  }
  button.addEventListener("click", function () {
    var ratings = ratingsTsv();
    var blob = new Blob([ratings.text], {type: "text/tab-separated-values"});
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = button.getAttribute("data-filename");
    document.body.appendChild(link);
    link.click();
    document.body.removeChild(link);
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
    document.getElementById("qc-ratings-status").textContent =
      ratings.rated + " of " + ratings.total + " image(s) rated, saved as " + link.download;
  });
}());
</script>
</body>
</html>
