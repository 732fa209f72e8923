<?xml version="1.0" encoding="UTF-8"?>
<!--
  studybuild define.xml 2.1 stylesheet (XSLT 1.0).

  Written for studybuild (Apache-2.0); renders any Define-XML 2.1 (or 2.0) document as one
  HTML page: study and standards, a dataset index, one table of variables per dataset with
  value-level metadata beneath its parent variable, codelists, external dictionaries,
  methods, comments and documents. Browsers apply it through the xml-stylesheet processing
  instruction when define.xml and this file sit in the same folder (served over http, or
  opened from disk in a browser that allows file access); `studybuild.define.render_html`
  applies the same stylesheet with lxml.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:odm="http://www.cdisc.org/ns/odm/v1.3"
    xmlns:def="http://www.cdisc.org/ns/def/v2.1"
    xmlns:def20="http://www.cdisc.org/ns/def/v2.0"
    xmlns:xlink="http://www.w3.org/1999/xlink"
    xmlns:arm="http://www.cdisc.org/ns/arm/v1.0"
    exclude-result-prefixes="odm def def20 xlink arm">

  <xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat"/>

  <!-- how many codelist terms to show inline in a variable row -->
  <xsl:variable name="inlineTerms" select="6"/>

  <xsl:key name="item" match="odm:ItemDef" use="@OID"/>
  <xsl:key name="codelist" match="odm:CodeList" use="@OID"/>
  <xsl:key name="method" match="odm:MethodDef" use="@OID"/>
  <xsl:key name="comment" match="def:CommentDef|def20:CommentDef" use="@OID"/>
  <xsl:key name="where" match="def:WhereClauseDef|def20:WhereClauseDef" use="@OID"/>
  <xsl:key name="valuelist" match="def:ValueListDef|def20:ValueListDef" use="@OID"/>
  <xsl:key name="standard" match="def:Standard" use="@OID"/>
  <xsl:key name="leaf" match="def:leaf|def20:leaf" use="@ID"/>

  <xsl:variable name="mdv" select="/odm:ODM/odm:Study/odm:MetaDataVersion"/>
  <xsl:variable name="isAdam"
      select="count($mdv/odm:ItemGroupDef[@Purpose='Analysis']) &gt; 0"/>

  <!-- ================================================================================== -->
  <xsl:template match="/">
    <html lang="en">
      <head>
        <meta charset="UTF-8"/>
        <title>
          <xsl:value-of select="/odm:ODM/odm:Study/odm:GlobalVariables/odm:StudyName"/>
          <xsl:text> define.xml</xsl:text>
        </title>
        <style><xsl:call-template name="css"/></style>
      </head>
      <body>
        <nav id="toc">
          <div class="toc-title">
            <xsl:value-of select="/odm:ODM/odm:Study/odm:GlobalVariables/odm:StudyName"/>
          </div>
          <a href="#study">Study and standards</a>
          <a href="#datasets">Datasets</a>
          <ul>
            <xsl:for-each select="$mdv/odm:ItemGroupDef">
              <li>
                <a href="#ig-{@OID}" title="{odm:Description/odm:TranslatedText}">
                  <xsl:value-of select="@Name"/>
                </a>
              </li>
            </xsl:for-each>
          </ul>
          <xsl:if test="$mdv/odm:CodeList[not(odm:ExternalCodeList)]">
            <a href="#codelists">Codelists</a>
          </xsl:if>
          <xsl:if test="$mdv/odm:CodeList[odm:ExternalCodeList]">
            <a href="#dictionaries">External dictionaries</a>
          </xsl:if>
          <xsl:if test="$mdv/odm:MethodDef">
            <a href="#methods">Methods</a>
          </xsl:if>
          <xsl:if test="$mdv/def:CommentDef|$mdv/def20:CommentDef">
            <a href="#comments">Comments</a>
          </xsl:if>
        </nav>
        <main>
          <xsl:call-template name="study"/>
          <xsl:call-template name="dataset-index"/>
          <xsl:for-each select="$mdv/odm:ItemGroupDef">
            <xsl:call-template name="dataset"/>
          </xsl:for-each>
          <xsl:call-template name="codelists"/>
          <xsl:call-template name="dictionaries"/>
          <xsl:call-template name="methods"/>
          <xsl:call-template name="comments"/>
          <p class="footer">
            <xsl:text>Rendered from define.xml by the studybuild stylesheet. File created </xsl:text>
            <xsl:value-of select="/odm:ODM/@CreationDateTime"/>
            <xsl:text> by </xsl:text>
            <xsl:value-of select="/odm:ODM/@SourceSystem"/>
            <xsl:text> </xsl:text>
            <xsl:value-of select="/odm:ODM/@SourceSystemVersion"/>
            <xsl:text>.</xsl:text>
          </p>
        </main>
      </body>
    </html>
  </xsl:template>

  <!-- ================================================================================== -->
  <xsl:template name="study">
    <section id="study">
      <h1>
        <xsl:value-of select="/odm:ODM/odm:Study/odm:GlobalVariables/odm:StudyName"/>
        <span class="sub">
          <xsl:choose>
            <xsl:when test="$isAdam"> analysis data definitions</xsl:when>
            <xsl:otherwise> tabulation data definitions</xsl:otherwise>
          </xsl:choose>
        </span>
      </h1>
      <p class="description">
        <xsl:value-of select="/odm:ODM/odm:Study/odm:GlobalVariables/odm:StudyDescription"/>
      </p>
      <table class="facts">
        <tr><th>Protocol</th>
          <td><xsl:value-of select="/odm:ODM/odm:Study/odm:GlobalVariables/odm:ProtocolName"/></td></tr>
        <tr><th>Metadata version</th>
          <td><xsl:value-of select="$mdv/@Name"/>
            <xsl:if test="$mdv/@Description">
              <xsl:text> — </xsl:text><xsl:value-of select="$mdv/@Description"/>
            </xsl:if></td></tr>
        <tr><th>Define-XML version</th>
          <td><xsl:value-of select="$mdv/@def:DefineVersion|$mdv/@def20:DefineVersion"/></td></tr>
        <tr><th>Created</th>
          <td><xsl:value-of select="/odm:ODM/@CreationDateTime"/></td></tr>
        <xsl:if test="$mdv/@def:CommentOID">
          <tr><th>Comment</th>
            <td><xsl:call-template name="comment-text">
              <xsl:with-param name="oid" select="$mdv/@def:CommentOID"/></xsl:call-template></td></tr>
        </xsl:if>
        <xsl:if test="$mdv/@def20:StandardName">
          <tr><th>Standard</th>
            <td><xsl:value-of select="$mdv/@def20:StandardName"/><xsl:text> </xsl:text>
              <xsl:value-of select="$mdv/@def20:StandardVersion"/></td></tr>
        </xsl:if>
      </table>
      <xsl:if test="$mdv/def:Standards/def:Standard">
        <h2>Standards</h2>
        <table class="grid">
          <thead><tr><th>Standard</th><th>Type</th><th>Publishing set</th><th>Version</th>
            <th>Status</th></tr></thead>
          <tbody>
            <xsl:for-each select="$mdv/def:Standards/def:Standard">
              <tr>
                <td><xsl:value-of select="@Name"/></td>
                <td><xsl:value-of select="@Type"/></td>
                <td><xsl:value-of select="@PublishingSet"/></td>
                <td><xsl:value-of select="@Version"/></td>
                <td><xsl:value-of select="@Status"/></td>
              </tr>
            </xsl:for-each>
          </tbody>
        </table>
      </xsl:if>
      <xsl:if test="$mdv/def:AnnotatedCRF|$mdv/def:SupplementalDoc">
        <h2>Documents</h2>
        <ul>
          <xsl:for-each select="$mdv/def:AnnotatedCRF/def:DocumentRef|$mdv/def:SupplementalDoc/def:DocumentRef">
            <xsl:variable name="leaf" select="key('leaf', @leafID)"/>
            <li><a href="{$leaf/@xlink:href}"><xsl:value-of select="$leaf/def:title"/></a></li>
          </xsl:for-each>
        </ul>
      </xsl:if>
    </section>
  </xsl:template>

  <!-- ================================================================================== -->
  <xsl:template name="dataset-index">
    <section id="datasets">
      <h2>Datasets</h2>
      <table class="grid">
        <thead>
          <tr><th>Dataset</th><th>Description</th><th>Class</th><th>Structure</th>
            <th>Purpose</th><th>Keys</th><th>Documentation</th><th>Location</th></tr>
        </thead>
        <tbody>
          <xsl:for-each select="$mdv/odm:ItemGroupDef">
            <tr>
              <td class="name"><a href="#ig-{@OID}"><xsl:value-of select="@Name"/></a></td>
              <td><xsl:value-of select="odm:Description/odm:TranslatedText"/></td>
              <td>
                <xsl:value-of select="def:Class/@Name|@def20:Class"/>
                <xsl:for-each select="def:Class/def:SubClass">
                  <br/><span class="muted">(<xsl:value-of select="@Name"/>)</span>
                </xsl:for-each>
              </td>
              <td><xsl:value-of select="@def:Structure|@def20:Structure"/></td>
              <td><xsl:value-of select="@Purpose"/></td>
              <td class="keys"><xsl:call-template name="keys"/></td>
              <td>
                <xsl:if test="@def:HasNoData='Yes'"><em>No data. </em></xsl:if>
                <xsl:call-template name="comment-text">
                  <xsl:with-param name="oid" select="@def:CommentOID|@def20:CommentOID"/>
                </xsl:call-template>
              </td>
              <td>
                <xsl:for-each select="def:leaf|def20:leaf">
                  <a href="{@xlink:href}"><xsl:value-of select="def:title|def20:title"/></a>
                </xsl:for-each>
              </td>
            </tr>
          </xsl:for-each>
        </tbody>
      </table>
    </section>
  </xsl:template>

  <xsl:template name="keys">
    <xsl:for-each select="odm:ItemRef[@KeySequence]">
      <xsl:sort select="@KeySequence" data-type="number"/>
      <xsl:value-of select="key('item', @ItemOID)/@Name"/>
      <xsl:if test="position() != last()">, </xsl:if>
    </xsl:for-each>
  </xsl:template>

  <!-- ================================================================================== -->
  <xsl:template name="dataset">
    <section class="dataset" id="ig-{@OID}">
      <h2>
        <xsl:value-of select="@Name"/>
        <span class="sub"><xsl:text> — </xsl:text>
          <xsl:value-of select="odm:Description/odm:TranslatedText"/></span>
        <span class="loc">
          <xsl:for-each select="def:leaf|def20:leaf">
            <a href="{@xlink:href}"><xsl:value-of select="def:title|def20:title"/></a>
          </xsl:for-each>
          <a class="up" href="#datasets" title="back to the dataset index">↑ datasets</a>
        </span>
      </h2>
      <p class="muted small">
        <xsl:value-of select="def:Class/@Name|@def20:Class"/>
        <xsl:if test="def:Class/def:SubClass">
          <xsl:text> (</xsl:text><xsl:value-of select="def:Class/def:SubClass/@Name"/>
          <xsl:text>)</xsl:text>
        </xsl:if>
        <xsl:text> · </xsl:text><xsl:value-of select="@def:Structure|@def20:Structure"/>
        <xsl:text> · keys: </xsl:text><xsl:call-template name="keys"/>
        <xsl:if test="@def:StandardOID">
          <xsl:text> · </xsl:text>
          <xsl:value-of select="key('standard', @def:StandardOID)/@Name"/><xsl:text> </xsl:text>
          <xsl:value-of select="key('standard', @def:StandardOID)/@Version"/>
        </xsl:if>
        <xsl:if test="@def:IsNonStandard='Yes'"> · non-standard dataset</xsl:if>
      </p>
      <table class="grid vars">
        <thead>
          <tr><th>Variable</th><th>Label / where</th><th>Key</th><th>Type</th>
            <th>Length</th><th>Controlled terms or format</th>
            <th>Origin · source · method · comment</th></tr>
        </thead>
        <tbody>
          <xsl:for-each select="odm:ItemRef">
            <xsl:sort select="@OrderNumber" data-type="number"/>
            <xsl:variable name="it" select="key('item', @ItemOID)"/>
            <tr id="it-{@ItemOID}">
              <td class="name">
                <xsl:value-of select="$it/@Name"/>
                <xsl:if test="@Mandatory='Yes'"><span class="req" title="Mandatory">*</span></xsl:if>
              </td>
              <td><xsl:value-of select="$it/odm:Description/odm:TranslatedText"/></td>
              <td class="num"><xsl:value-of select="@KeySequence"/></td>
              <td><xsl:value-of select="$it/@DataType"/></td>
              <td class="num"><xsl:call-template name="length">
                <xsl:with-param name="it" select="$it"/></xsl:call-template></td>
              <td><xsl:call-template name="terms">
                <xsl:with-param name="it" select="$it"/></xsl:call-template></td>
              <td><xsl:call-template name="origin">
                <xsl:with-param name="it" select="$it"/>
                <xsl:with-param name="ref" select="."/></xsl:call-template></td>
            </tr>
            <!-- value-level metadata right beneath its variable -->
            <xsl:variable name="vl"
                select="key('valuelist', $it/def:ValueListRef/@ValueListOID|$it/def20:ValueListRef/@ValueListOID)"/>
            <xsl:for-each select="$vl/odm:ItemRef">
              <xsl:sort select="@OrderNumber" data-type="number"/>
              <xsl:variable name="vit" select="key('item', @ItemOID)"/>
              <tr class="vlm" id="it-{@ItemOID}">
                <td class="name vlm-name">
                  <span class="arrow">↳</span><xsl:value-of select="$vit/@Name"/>
                </td>
                <td>
                  <span class="where"><xsl:call-template name="where">
                    <xsl:with-param name="ref" select="."/></xsl:call-template></span>
                  <xsl:if test="$vit/odm:Description/odm:TranslatedText">
                    <br/><xsl:value-of select="$vit/odm:Description/odm:TranslatedText"/>
                  </xsl:if>
                </td>
                <td/>
                <td><xsl:value-of select="$vit/@DataType"/></td>
                <td class="num"><xsl:call-template name="length">
                  <xsl:with-param name="it" select="$vit"/></xsl:call-template></td>
                <td><xsl:call-template name="terms">
                  <xsl:with-param name="it" select="$vit"/></xsl:call-template></td>
                <td><xsl:call-template name="origin">
                  <xsl:with-param name="it" select="$vit"/>
                  <xsl:with-param name="ref" select="."/></xsl:call-template></td>
              </tr>
            </xsl:for-each>
          </xsl:for-each>
        </tbody>
      </table>
      <p class="small muted">* mandatory (the value may not be null). Value-level rows (↳)
        describe the variable's values under the stated condition.</p>
    </section>
  </xsl:template>

  <xsl:template name="length">
    <xsl:param name="it"/>
    <xsl:value-of select="$it/@Length"/>
    <xsl:if test="$it/@SignificantDigits">
      <span class="muted"> (<xsl:value-of select="$it/@SignificantDigits"/> dp)</span>
    </xsl:if>
  </xsl:template>

  <xsl:template name="where">
    <xsl:param name="ref"/>
    <xsl:for-each select="$ref/def:WhereClauseRef|$ref/def20:WhereClauseRef">
      <xsl:if test="position() &gt; 1"><xsl:text> or </xsl:text></xsl:if>
      <xsl:for-each select="key('where', @WhereClauseOID)/odm:RangeCheck">
        <xsl:if test="position() &gt; 1"><xsl:text> and </xsl:text></xsl:if>
        <xsl:value-of select="key('item', @def:ItemOID|@def20:ItemOID)/@Name"/>
        <xsl:choose>
          <xsl:when test="@Comparator='EQ'"> = </xsl:when>
          <xsl:when test="@Comparator='NE'"> ≠ </xsl:when>
          <xsl:when test="@Comparator='LT'"> &lt; </xsl:when>
          <xsl:when test="@Comparator='LE'"> ≤ </xsl:when>
          <xsl:when test="@Comparator='GT'"> &gt; </xsl:when>
          <xsl:when test="@Comparator='GE'"> ≥ </xsl:when>
          <xsl:when test="@Comparator='IN'"> in </xsl:when>
          <xsl:when test="@Comparator='NOTIN'"> not in </xsl:when>
          <xsl:otherwise><xsl:text> </xsl:text><xsl:value-of select="@Comparator"/><xsl:text> </xsl:text></xsl:otherwise>
        </xsl:choose>
        <xsl:for-each select="odm:CheckValue">
          <xsl:if test="position() &gt; 1">, </xsl:if>
          <code><xsl:value-of select="."/></code>
        </xsl:for-each>
      </xsl:for-each>
    </xsl:for-each>
  </xsl:template>

  <xsl:template name="terms">
    <xsl:param name="it"/>
    <xsl:variable name="cl" select="key('codelist', $it/odm:CodeListRef/@CodeListOID)"/>
    <xsl:if test="$cl">
      <a href="#cl-{$cl/@OID}"><xsl:value-of select="$cl/@Name"/></a>
      <xsl:choose>
        <xsl:when test="$cl/odm:ExternalCodeList">
          <span class="muted"><xsl:text> (</xsl:text>
            <xsl:value-of select="$cl/odm:ExternalCodeList/@Dictionary"/>
            <xsl:if test="$cl/odm:ExternalCodeList/@Version">
              <xsl:text> </xsl:text><xsl:value-of select="$cl/odm:ExternalCodeList/@Version"/>
            </xsl:if><xsl:text>)</xsl:text></span>
        </xsl:when>
        <xsl:otherwise>
          <xsl:variable name="terms" select="$cl/odm:CodeListItem|$cl/odm:EnumeratedItem"/>
          <xsl:choose>
            <xsl:when test="count($terms) &lt;= $inlineTerms">
              <ul class="terms">
                <xsl:for-each select="$terms">
                  <li><code><xsl:value-of select="@CodedValue"/></code>
                    <xsl:if test="odm:Decode/odm:TranslatedText and odm:Decode/odm:TranslatedText != @CodedValue">
                      <xsl:text> = </xsl:text><xsl:value-of select="odm:Decode/odm:TranslatedText"/>
                    </xsl:if></li>
                </xsl:for-each>
              </ul>
            </xsl:when>
            <xsl:otherwise>
              <span class="muted"><xsl:text> (</xsl:text><xsl:value-of select="count($terms)"/>
                <xsl:text> terms)</xsl:text></span>
            </xsl:otherwise>
          </xsl:choose>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:if>
    <xsl:if test="$it/@def:DisplayFormat|$it/@def20:DisplayFormat">
      <xsl:if test="$cl"><br/></xsl:if>
      <span class="fmt">format <code><xsl:value-of select="$it/@def:DisplayFormat|$it/@def20:DisplayFormat"/></code></span>
    </xsl:if>
    <xsl:if test="not($cl) and not($it/@def:DisplayFormat|$it/@def20:DisplayFormat) and contains('date datetime time partialDate partialDatetime incompleteDatetime', $it/@DataType) and string-length($it/@DataType) &gt; 0">
      <span class="muted">ISO 8601</span>
    </xsl:if>
    <xsl:if test="not($cl) and $it/@DataType='durationDatetime'">
      <span class="muted">ISO 8601 duration</span>
    </xsl:if>
  </xsl:template>

  <xsl:template name="origin">
    <xsl:param name="it"/>
    <xsl:param name="ref"/>
    <xsl:for-each select="$it/def:Origin|$it/def20:Origin">
      <span class="origin"><xsl:value-of select="@Type"/></span>
      <xsl:if test="@Source and @Source != 'Sponsor'"><span class="muted"> (<xsl:value-of select="@Source"/>)</span></xsl:if>
      <xsl:if test="odm:Description/odm:TranslatedText">
        <xsl:text>: </xsl:text><xsl:value-of select="odm:Description/odm:TranslatedText"/>
      </xsl:if>
      <xsl:for-each select="def:DocumentRef|def20:DocumentRef">
        <xsl:variable name="leaf" select="key('leaf', @leafID)"/>
        <xsl:text> </xsl:text>
        <a href="{$leaf/@xlink:href}"><xsl:value-of select="$leaf/def:title|$leaf/def20:title"/></a>
        <xsl:for-each select="def:PDFPageRef|def20:PDFPageRef">
          <xsl:text> p. </xsl:text><xsl:value-of select="@PageRefs"/>
          <xsl:if test="@FirstPage"><xsl:value-of select="@FirstPage"/>–<xsl:value-of select="@LastPage"/></xsl:if>
        </xsl:for-each>
      </xsl:for-each>
    </xsl:for-each>
    <xsl:if test="$ref/@MethodOID">
      <xsl:variable name="m" select="key('method', $ref/@MethodOID)"/>
      <div class="method"><a href="#mt-{$m/@OID}" class="tag">method</a>
        <xsl:text> </xsl:text><xsl:value-of select="$m/odm:Description/odm:TranslatedText"/></div>
    </xsl:if>
    <xsl:if test="$it/@def:CommentOID|$it/@def20:CommentOID">
      <div class="comment"><span class="tag">comment</span><xsl:text> </xsl:text>
        <xsl:call-template name="comment-text">
          <xsl:with-param name="oid" select="$it/@def:CommentOID|$it/@def20:CommentOID"/>
        </xsl:call-template></div>
    </xsl:if>
  </xsl:template>

  <xsl:template name="comment-text">
    <xsl:param name="oid"/>
    <xsl:variable name="c" select="key('comment', $oid)"/>
    <xsl:value-of select="$c/odm:Description/odm:TranslatedText"/>
    <xsl:for-each select="$c/def:DocumentRef|$c/def20:DocumentRef">
      <xsl:variable name="leaf" select="key('leaf', @leafID)"/>
      <xsl:text> </xsl:text>
      <a href="{$leaf/@xlink:href}"><xsl:value-of select="$leaf/def:title|$leaf/def20:title"/></a>
    </xsl:for-each>
  </xsl:template>

  <!-- ================================================================================== -->
  <xsl:template name="codelists">
    <xsl:variable name="lists" select="$mdv/odm:CodeList[not(odm:ExternalCodeList)]"/>
    <xsl:if test="$lists">
      <section id="codelists">
        <h2>Codelists</h2>
        <p class="small muted">Only the terms used in the data. C-codes are NCI Thesaurus
          concept codes; <span class="ext">extended</span> marks a sponsor value added to an
          extensible CDISC codelist.</p>
        <div class="cl-grid">
          <xsl:for-each select="$lists">
            <div class="codelist" id="cl-{@OID}">
              <h3><xsl:value-of select="@Name"/>
                <span class="muted small">
                  <xsl:text> </xsl:text><xsl:value-of select="@OID"/>
                  <xsl:if test="odm:Alias[@Context='nci:ExtCodeID']">
                    <xsl:text> · </xsl:text><xsl:value-of select="odm:Alias[@Context='nci:ExtCodeID']/@Name"/>
                  </xsl:if>
                  <xsl:if test="@def:IsNonStandard='Yes'"> · sponsor-defined</xsl:if>
                  <xsl:text> · </xsl:text><xsl:value-of select="@DataType"/>
                </span>
              </h3>
              <table class="grid terms-table">
                <thead><tr><th>Coded value</th>
                  <xsl:if test="odm:CodeListItem"><th>Decode</th></xsl:if>
                  <th>C-code</th></tr></thead>
                <tbody>
                  <xsl:for-each select="odm:CodeListItem|odm:EnumeratedItem">
                    <xsl:sort select="@OrderNumber" data-type="number"/>
                    <tr>
                      <td><code><xsl:value-of select="@CodedValue"/></code>
                        <xsl:if test="@def:ExtendedValue='Yes'"><span class="ext">extended</span></xsl:if>
                      </td>
                      <xsl:if test="self::odm:CodeListItem">
                        <td><xsl:value-of select="odm:Decode/odm:TranslatedText"/></td>
                      </xsl:if>
                      <td class="code"><xsl:value-of select="odm:Alias[@Context='nci:ExtCodeID']/@Name"/></td>
                    </tr>
                  </xsl:for-each>
                </tbody>
              </table>
            </div>
          </xsl:for-each>
        </div>
      </section>
    </xsl:if>
  </xsl:template>

  <xsl:template name="dictionaries">
    <xsl:variable name="lists" select="$mdv/odm:CodeList[odm:ExternalCodeList]"/>
    <xsl:if test="$lists">
      <section id="dictionaries">
        <h2>External dictionaries</h2>
        <table class="grid">
          <thead><tr><th>Codelist</th><th>Dictionary</th><th>Version</th><th>Reference</th></tr></thead>
          <tbody>
            <xsl:for-each select="$lists">
              <tr id="cl-{@OID}">
                <td><xsl:value-of select="@Name"/></td>
                <td><xsl:value-of select="odm:ExternalCodeList/@Dictionary"/></td>
                <td><xsl:value-of select="odm:ExternalCodeList/@Version"/></td>
                <td><xsl:if test="odm:ExternalCodeList/@href">
                  <a href="{odm:ExternalCodeList/@href}"><xsl:value-of select="odm:ExternalCodeList/@href"/></a>
                </xsl:if></td>
              </tr>
            </xsl:for-each>
          </tbody>
        </table>
      </section>
    </xsl:if>
  </xsl:template>

  <xsl:template name="methods">
    <xsl:if test="$mdv/odm:MethodDef">
      <section id="methods">
        <h2>Methods</h2>
        <table class="grid">
          <thead><tr><th>Method</th><th>Type</th><th>Description</th></tr></thead>
          <tbody>
            <xsl:for-each select="$mdv/odm:MethodDef">
              <tr id="mt-{@OID}">
                <td><xsl:value-of select="@Name"/><br/><span class="muted small"><xsl:value-of select="@OID"/></span></td>
                <td><xsl:value-of select="@Type"/></td>
                <td>
                  <xsl:value-of select="odm:Description/odm:TranslatedText"/>
                  <xsl:for-each select="odm:FormalExpression">
                    <pre><xsl:value-of select="."/></pre>
                  </xsl:for-each>
                </td>
              </tr>
            </xsl:for-each>
          </tbody>
        </table>
      </section>
    </xsl:if>
  </xsl:template>

  <xsl:template name="comments">
    <xsl:variable name="all" select="$mdv/def:CommentDef|$mdv/def20:CommentDef"/>
    <xsl:if test="$all">
      <section id="comments">
        <h2>Comments</h2>
        <table class="grid">
          <thead><tr><th>Comment</th><th>Text</th></tr></thead>
          <tbody>
            <xsl:for-each select="$all">
              <tr id="com-{@OID}">
                <td class="code"><xsl:value-of select="@OID"/></td>
                <td><xsl:call-template name="comment-text">
                  <xsl:with-param name="oid" select="@OID"/></xsl:call-template></td>
              </tr>
            </xsl:for-each>
          </tbody>
        </table>
      </section>
    </xsl:if>
  </xsl:template>

  <!-- ================================================================================== -->
  <xsl:template name="css">
    :root { --ink: #1d2630; --muted: #5b6876; --line: #d5dce3; --head: #eef2f6; --accent: #1f5f99; --vlm: #f7f9fb; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 14px/1.45 "Segoe UI", "Helvetica Neue", Arial, sans-serif; color: var(--ink); }
    #toc { position: fixed; top: 0; left: 0; bottom: 0; width: 13rem; overflow-y: auto;
           padding: 1rem 0.8rem; background: #f4f6f8; border-right: 1px solid var(--line); font-size: 13px; }
    #toc a { display: block; color: var(--accent); text-decoration: none; padding: 2px 0; }
    #toc a:hover { text-decoration: underline; }
    #toc ul { list-style: none; margin: 0 0 0.6rem 0.6rem; padding: 0; columns: 2; }
    .toc-title { font-weight: 600; margin-bottom: 0.6rem; word-break: break-all; }
    main { margin-left: 13rem; padding: 1rem 2rem 3rem; max-width: 110rem; }
    h1 { font-size: 1.6rem; margin: 0.2rem 0 0.4rem; }
    h1 .sub, h2 .sub { font-weight: 400; color: var(--muted); }
    h2 { font-size: 1.25rem; margin: 2rem 0 0.5rem; padding-bottom: 0.25rem; border-bottom: 2px solid var(--line); }
    h2 .loc { float: right; font-size: 0.85rem; font-weight: 400; }
    h2 .loc a { margin-left: 1rem; }
    h3 { font-size: 1rem; margin: 0 0 0.3rem; }
    a { color: var(--accent); }
    .description { color: var(--muted); max-width: 60rem; }
    .muted { color: var(--muted); }
    .small { font-size: 12px; }
    table.facts th { text-align: left; padding-right: 1rem; font-weight: 600; vertical-align: top; white-space: nowrap; }
    table.grid { border-collapse: collapse; width: 100%; margin: 0.4rem 0; }
    table.grid th, table.grid td { border: 1px solid var(--line); padding: 4px 6px; vertical-align: top; text-align: left; }
    table.grid thead th { background: var(--head); position: sticky; top: 0; z-index: 1; }
    table.grid tbody tr:nth-child(even) { background: #fbfcfd; }
    td.name { font-family: Consolas, "DejaVu Sans Mono", monospace; font-weight: 600; white-space: nowrap; }
    td.num { text-align: right; white-space: nowrap; }
    td.code, code { font-family: Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
    td.keys { font-family: Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
    tr.vlm td { background: var(--vlm); font-size: 13px; }
    td.vlm-name { font-weight: 400; padding-left: 1.2rem; }
    .arrow { color: var(--muted); margin-right: 0.3rem; }
    .where code { background: #e8eef4; padding: 0 3px; border-radius: 2px; }
    .req { color: #b03a2e; margin-left: 2px; }
    ul.terms { margin: 2px 0 0; padding-left: 1rem; }
    .origin { font-weight: 600; }
    .tag { display: inline-block; font-size: 11px; text-transform: uppercase; letter-spacing: 0.03em;
           background: #e3ebf3; color: var(--accent); border-radius: 3px; padding: 0 4px; text-decoration: none; }
    .method, .comment { margin-top: 3px; }
    .ext { font-size: 11px; background: #fff1d6; color: #7a5200; border-radius: 3px; padding: 0 4px; margin-left: 4px; }
    .cl-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(26rem, 1fr)); gap: 1rem 1.5rem; }
    .codelist { break-inside: avoid; }
    .footer { margin-top: 3rem; color: var(--muted); font-size: 12px; }
    a.up { font-size: 0.8rem; }
    :target { outline: 2px solid #f2c14e; }
    @media print { #toc { display: none; } main { margin-left: 0; } table.grid thead th { position: static; } }
  </xsl:template>
</xsl:stylesheet>
