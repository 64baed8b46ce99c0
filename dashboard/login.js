(function () {
  var f = document.getElementById("code"), l = document.getElementById("lang");
  function fill() {
    var t = location.hash.slice(1);
    if (!t || !f) return;
    f.value = t;
    document.getElementById("paste").hidden = true;
    if (l) l.href = l.getAttribute("href").split("#")[0] + location.hash;
  }
  fill();
  addEventListener("hashchange", fill);
})();
